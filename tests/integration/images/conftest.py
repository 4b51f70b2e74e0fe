"""Fixtures for the image tests: the built archives (`make images`, reused when unchanged)
and a scratch folder where umoci unpacks them for runc. No platform is needed."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.images import catalog, cli
from infra.local.settings import PlatformSettings
from tests.integration.images.oci import Bundles


@pytest.fixture(scope="session")
def archives() -> dict[str, Path]:
    """Each image's OCI archive by name, built (or found up to date) by the real builder."""
    settings = PlatformSettings()
    cli.build_images(settings, [])
    return {
        image.name: cli.archive_path(settings, image)
        for image in catalog.catalog(settings)
        if image.archive
    }


@pytest.fixture(scope="session")
def bundles() -> Iterator[Bundles]:
    scratch = Path(tempfile.mkdtemp(prefix="kubesaga-images-"))
    try:
        yield Bundles(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
