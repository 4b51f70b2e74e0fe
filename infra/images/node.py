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

from infra.local.settings import REPO_ROOT
from infra.local.state import State


def import_command(archive: Path) -> list[str]:
    return [sys.executable, "-m", "infra.local", "node", "import-image", str(archive)]


def import_into(node: State, archive: Path) -> None:
    """Import one OCI archive into ``node``'s containerd (its ``k8s.io`` namespace)."""
    env = {**os.environ, "KUBESAGA_STATE": str(node.root)}
    subprocess.run(import_command(archive), cwd=REPO_ROOT, env=env, check=True)
