"""skaffold's custom build for the local platform: buildah, then the node's containerd.

skaffold runs ``python -m infra.skaffold build`` in the artifact's context with ``$IMAGE``
(the reference it wants, e.g. ``ghcr.io/kubesaga/kubesaga:<digest>``), ``$BUILD_CONTEXT`` and
``$PUSH_IMAGE``. The image is built by the builder `make images` uses (its store, its layer
cache, the same Containerfile), tagged ``$IMAGE`` and ``<repo>:<image id>``, and imported
into the node under both: skaffold deploys the second, the tag it makes from the image ID
that :mod:`infra.skaffold.docker_api` reports, so a pod runs exactly what was just built.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.images import base, build, catalog, node
from infra.images.cli import image_store
from infra.images.store import BuildError
from infra.local.settings import PlatformSettings
from infra.local.state import State

ARTIFACT = "kubesaga"


def unique_reference(image: str, image_id: str) -> str:
    """The reference skaffold deploys after a local build: ``<repo>:<image id hex>``."""
    repository = image.rsplit("@", 1)[0]
    if repository.rfind(":") > repository.rfind("/"):
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:{image_id.removeprefix('sha256:')}"


def archive_path(settings: PlatformSettings) -> Path:
    return settings.state / "skaffold" / f"{ARTIFACT}.tar"


def build_and_import(settings: PlatformSettings, image: str, context: Path) -> str:
    """Build kubesaga's image from ``context`` as ``image``, import it; returns its ID."""
    store = image_store(settings)
    store.prepare()
    logs = settings.state / "skaffold" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "build.log"
    log.write_text("")
    base.ensure_base(store, store.root / "base", log)
    wanted = catalog.select(catalog.catalog(settings), [ARTIFACT])
    for required in wanted:
        if required.name == ARTIFACT:
            required = dataclasses.replace(required, tags=(image,))
        build.build(required, store, log, context)
    image_id = store.image_id(image)
    target = dataclasses.replace(
        next(i for i in wanted if i.name == ARTIFACT),
        tags=(image, unique_reference(image, image_id)),
    )
    build.write_archive(target, store, archive_path(settings), log)
    node.import_into(State(settings), archive_path(settings))
    return image_id


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["build"]:
        print(
            "usage: python -m infra.skaffold build  (run by skaffold, with $IMAGE)", file=sys.stderr
        )
        return 2
    image = environ.get("IMAGE")
    if not image:
        print("infra.skaffold build: $IMAGE is not set (skaffold sets it)", file=sys.stderr)
        return 2
    if environ.get("PUSH_IMAGE") == "true":
        print(
            "infra.skaffold build: the local platform has no registry to push to", file=sys.stderr
        )
        return 2
    context = Path(environ.get("BUILD_CONTEXT") or Path.cwd())
    started = time.monotonic()
    try:
        image_id = build_and_import(PlatformSettings(), image, context)
    except (BuildError, RuntimeError, FileNotFoundError, LookupError) as e:
        print(f"infra.skaffold build: {e}", file=sys.stderr)
        return 1
    print(f"built and imported {image} ({image_id}) in {time.monotonic() - started:.1f}s")
    return 0
