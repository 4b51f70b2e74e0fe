"""The image builder's pure parts: which images a build takes, archive references, the base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.images import base, build, catalog
from infra.local.settings import PlatformSettings


@pytest.fixture
def images() -> list[catalog.Image]:
    return catalog.catalog(PlatformSettings())


def test_naming_an_image_brings_what_it_builds_from(images: list[catalog.Image]) -> None:
    assert [i.name for i in catalog.select(images, ["kubesaga"])] == ["uv", "kubesaga"]
    assert [i.name for i in catalog.select(images, ["redis"])] == ["redis"]


def test_no_name_means_every_image_in_build_order(images: list[catalog.Image]) -> None:
    names = [i.name for i in catalog.select(images, [])]
    assert names == [i.name for i in images]
    assert names.index("uv") < names.index("kubesaga")


def test_an_unknown_name_is_refused(images: list[catalog.Image]) -> None:
    with pytest.raises(LookupError, match="no image named nope"):
        catalog.select(images, ["nope", "redis"])


def test_every_image_has_its_containerfile(images: list[catalog.Image]) -> None:
    assert all(image.containerfile.is_file() for image in images)


def test_kubesaga_tags_follow_the_project_version(images: list[catalog.Image]) -> None:
    (kubesaga,) = (i for i in images if i.name == "kubesaga")
    version = catalog.project_version()
    assert kubesaga.tags == (
        f"ghcr.io/kubesaga/kubesaga:{version}",
        "ghcr.io/kubesaga/kubesaga:dev",
    )
    assert kubesaga.labels["org.opencontainers.image.revision"] == catalog.git_revision()


def test_an_archive_index_names_every_tag(tmp_path: Path) -> None:
    manifest = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:ab"}
    index = tmp_path / "index.json"
    first = {**manifest, "annotations": {"org.opencontainers.image.ref.name": "a:1"}}
    index.write_text(json.dumps({"schemaVersion": 2, "manifests": [first]}))
    build.add_references(index, ("a:dev",))
    manifests = json.loads(index.read_text())["manifests"]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in manifests] == [
        "a:1",
        "a:dev",
    ]
    assert {m["digest"] for m in manifests} == {"sha256:ab"}


def test_the_base_recipe_names_its_cache_entry() -> None:
    command = base.mmdebstrap_command(Path("out.tar"))
    assert command[:3] == ["mmdebstrap", "--variant=minbase", "--format=tar"]
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in command
    assert base.recipe_digest() == base.recipe_digest()
    assert len(base.recipe_digest()) == 12
