"""The seam to the platform's node: importing an archive into its containerd.

The node helper owns `infra/local/node/` and exposes the import as a platform command
(``python -m infra.local node import-image ARCHIVE``); this module only calls it, for the
platform instance whose state folder it is given, so the image builder knows nothing of
containerd's sockets or namespaces. Until that command exists the call fails with its message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.local.node import images as node_images
from infra.local.settings import REPO_ROOT, PlatformSettings
from infra.local.state import State


def import_command(archive: Path) -> list[str]:
    return [sys.executable, "-m", "infra.local", "node", "import-image", str(archive)]


def import_into(node: State, archive: Path) -> None:
    """Import one OCI archive into ``node``'s containerd (its ``k8s.io`` namespace)."""
    env = {**os.environ, "KUBESAGA_STATE": str(node.root)}
    subprocess.run(import_command(archive), cwd=REPO_ROOT, env=env, check=True)


def kubesaga_tag(settings: PlatformSettings) -> str:
    """The versioned tag of the kubesaga image `make images` last wrote (not ``dev``).

    The chart is installed with this tag, so a pod runs exactly the image the node was given,
    whatever commit the checkout has moved to since.
    """
    archive = settings.state / "images" / "kubesaga.tar"
    if not archive.exists():
        raise RuntimeError(f"no kubesaga image at {archive}: run `make images`")
    tags = [ref.rsplit(":", 1)[1] for ref in node_images.archive_references(archive)]
    versioned = [tag for tag in tags if tag != "dev"]
    if not versioned:
        raise RuntimeError(f"{archive} names no versioned kubesaga image: run `make images`")
    return versioned[0]
