"""`python -m infra.images`: build kubesaga's images and their in-cluster dependencies.

``build [NAME...]`` makes the Debian base once (cached), builds each image with layer caching
and writes ``<state>/images/<name>.tar`` (an OCI archive), printing one line per image with
its time; ``list`` names the images, their tags and archives; ``import NAME...`` hands
archives to the running node. `make images` is ``build``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from infra.images import base, build, catalog, node, store
from infra.local.settings import PlatformSettings
from infra.local.state import State


def archive_path(settings: PlatformSettings, image: catalog.Image) -> Path:
    return settings.state / "images" / f"{image.name}.tar"


def image_store(settings: PlatformSettings) -> store.Store:
    return store.Store(settings.cache / "images")


def build_images(settings: PlatformSettings, names: Sequence[str]) -> list[Path]:
    """Build the named images (all when none), write their archives, return their paths."""
    images = catalog.select(catalog.catalog(settings), list(names))
    images_store = image_store(settings)
    images_store.prepare()
    logs = settings.state / "images" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"images: store {images_store.root}, archives {settings.state / 'images'}", flush=True)
    step = time.monotonic()
    outcome = base.ensure_base(images_store, images_store.root / "base", logs / "base.log")
    print(f"  {'debian':<26} {time.monotonic() - step:6.1f}s  {catalog.BASE_REFERENCE} ({outcome})")
    archives = []
    for image in images:
        step = time.monotonic()
        log = logs / f"{image.name}.log"
        log.write_text("")
        print(f"  {image.name:<26} building (log: {log})", flush=True)
        build.build(image, images_store, log)
        built = time.monotonic() - step
        written = "no archive"
        if image.archive:
            archive = archive_path(settings, image)
            written = "archive" if build.write_archive(image, images_store, archive, log) else ""
            written = written or "archive unchanged"
            archives.append(archive)
        total = time.monotonic() - step
        print(
            f"  {image.name:<26} {total:6.1f}s  {image.tags[0]}"
            f" (build {built:.1f}s, {written} {total - built:.1f}s)",
            flush=True,
        )
    print(f"images ready in {time.monotonic() - started:.1f}s")
    return archives


def import_images(settings: PlatformSettings, names: Sequence[str]) -> None:
    """Hand the named archives (all when none) to the running node's containerd."""
    for image in catalog.select(catalog.catalog(settings), list(names)):
        if image.archive:
            node.import_into(State(settings), archive_path(settings, image))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m infra.images", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build_command = commands.add_parser("build", help="build images (all when none is named)")
    build_command.add_argument("names", nargs="*", metavar="NAME")
    commands.add_parser("list", help="name each image, its tags and its archive")
    import_command = commands.add_parser(
        "import", help="import built archives into the running node's containerd"
    )
    import_command.add_argument("names", nargs="*", metavar="NAME")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = PlatformSettings()
    try:
        if args.command == "build":
            build_images(settings, args.names)
        elif args.command == "list":
            for image in catalog.catalog(settings):
                print(f"{image.name:<26} {' '.join(image.tags)}")
                made = archive_path(settings, image) if image.archive else "(build-time only)"
                print(f"{'':<26} {image.containerfile} -> {made}")
        else:
            import_images(settings, args.names)
    except (LookupError, FileNotFoundError, store.BuildError) as e:
        print(f"images: {e}", file=sys.stderr)
        return 1
    return 0
