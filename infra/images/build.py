"""Build one image with buildah and write its OCI archive.

`buildah bud --layers` caches every step in the store, so an unchanged image costs a cache
lookup per instruction and a code-only change rebuilds only the layers after the code's
COPY. The archive is an OCI image layout in one tar, carrying every tag of the image as a
``org.opencontainers.image.ref.name``, which is what `ctr images import` reads.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from infra.images.catalog import Image
from infra.images.store import Store
from infra.local.settings import REPO_ROOT

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def bud_arguments(image: Image, store: Store, context: Path = REPO_ROOT) -> list[str]:
    """``buildah bud`` of ``image`` with ``context`` as the build context (its Containerfile
    taken from there too): the repository, or a copy of it (skaffold's $BUILD_CONTEXT)."""
    containerfile = context / image.containerfile.relative_to(REPO_ROOT)
    args = [
        "bud", "--layers", "--pull=never", "--network", "host", "--isolation", "chroot",
        "--signature-policy", str(store.policy), "--file", str(containerfile),
    ]  # fmt: skip
    for tag in image.tags:
        args += ["--tag", tag]
    for key, value in sorted(image.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(image.labels.items()):
        args += ["--label", f"{key}={value}"]
    for name, path in sorted(image.contexts.items()):
        if not path.is_dir():
            raise FileNotFoundError(f"{image.name} needs {path} (run `make tools` first)")
        args += ["--build-context", f"{name}={path}"]
    # The host's CA bundle, for a build behind a TLS-inspecting proxy: a secret mount, so it
    # never lands in a layer (the Containerfiles read it only when present).
    if CA_BUNDLE.is_file():
        args += ["--secret", f"id=ca-bundle,src={CA_BUNDLE}"]
    return [*args, str(context)]


def build(image: Image, store: Store, log: Path, context: Path = REPO_ROOT) -> None:
    store.run(bud_arguments(image, store, context), log=log, cwd=context)


def write_archive(image: Image, store: Store, archive: Path, log: Path) -> bool:
    """Push the image to an OCI layout, name every tag in its index, and tar it atomically.

    Skipped (returns False) when the archive already holds this very image under these tags:
    a push recompresses every layer, the slowest part of a warm build.
    """
    stamp = archive.with_suffix(".stamp")
    identity = json.dumps({"image": store.image_id(image.tags[0]), "tags": image.tags})
    if archive.exists() and stamp.exists() and stamp.read_text() == identity:
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=f".{image.name}-") as scratch:
        layout = Path(scratch) / "layout"
        main = image.tags[0]
        store.run(
            ["push", "--quiet", "--signature-policy", str(store.policy), main,
             f"oci:{layout}:{main}"],
            log=log,
        )  # fmt: skip
        add_references(layout / "index.json", image.tags[1:])
        partial = Path(scratch) / "archive.tar"
        with tarfile.open(partial, "w") as tar:
            for entry in sorted(layout.iterdir()):
                tar.add(entry, arcname=entry.name)
        shutil.move(partial, archive)
    stamp.write_text(identity)
    return True


def add_references(index_file: Path, tags: tuple[str, ...]) -> None:
    """Name the one manifest in an OCI index under more references too."""
    index = json.loads(index_file.read_text())
    (manifest,) = index["manifests"]
    for tag in tags:
        annotations = {**manifest.get("annotations", {}), "org.opencontainers.image.ref.name": tag}
        index["manifests"].append({**manifest, "annotations": annotations})
    index_file.write_text(json.dumps(index))
