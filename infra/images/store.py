"""buildah, confined: its own store, configuration and mount namespace under the tool cache.

Nothing host-wide is read or written: storage.conf, registries.conf, policy.json and
containers.conf are this module's own (`CONTAINERS_*` variables point at them), and every
buildah command runs in a private mount namespace in which /var/lib is a tmpfs, because
buildah as root writes its blob-info cache to /var/lib/containers whatever the store says;
that cache is bound in from the store's folder instead. Overlay mounts made during a build
vanish with the namespace. Builds use chroot isolation and the host network (no CNI config
is written), the way `docker build` uses the host's network for RUN steps.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# `mount` needs the folders it binds; `exec "$@"` keeps buildah's exit code and signals.
_CONFINE = (
    "set -e; blobinfo=$1; shift; mount -t tmpfs -o size=16m,mode=755 kubesaga-images /var/lib; "
    'mkdir /var/lib/containers; mount --bind "$blobinfo" /var/lib/containers; exec "$@"'
)

REGISTRIES_CONF = """\
# Short names (FROM debian:bookworm-slim) resolve to docker.io, and builds never pull:
# every base is made locally, so nothing here reaches a registry.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
"""


class Store:
    """A buildah image store at ``root``; every command goes through :meth:`run`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config"
        self.policy = self.config / "policy.json"

    def prepare(self) -> None:
        """Write the configuration files (idempotent)."""
        for folder in ("storage", "run", "blobinfo", "tmp", "networks", "config"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        files = {
            "storage.conf": (
                f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root / "storage"}"\n'
                f'runroot = "{self.root / "run"}"\n'
            ),
            "registries.conf": REGISTRIES_CONF,
            "policy.json": json.dumps({"default": [{"type": "insecureAcceptAnything"}]}) + "\n",
            "containers.conf": f'[network]\nnetwork_config_dir = "{self.root / "networks"}"\n',
        }
        for name, text in files.items():
            path = self.config / name
            if not path.exists() or path.read_text() != text:
                path.write_text(text)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(self.config / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.config / "registries.conf"),
            "CONTAINERS_CONF": str(self.config / "containers.conf"),
            "TMPDIR": str(self.root / "tmp"),
            "BUILDAH_ISOLATION": "chroot",
        }

    def command(self, args: Sequence[str]) -> list[str]:
        """``buildah ARGS`` wrapped in its private mount namespace."""
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _CONFINE, "confine", str(self.root / "blobinfo"), "buildah", *args,
        ]  # fmt: skip

    def run(self, args: Sequence[str], *, log: Path | None = None, cwd: Path | None = None) -> str:
        """Run buildah; its output goes to ``log`` when given, else is returned."""
        if log is None:
            done = subprocess.run(
                self.command(args), env=self.env, cwd=cwd, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise BuildError(f"buildah {' '.join(args[:2])} failed: {done.stderr.strip()}")
            return done.stdout
        with log.open("a") as out:
            out.write(f"$ buildah {' '.join(args)}\n")
            out.flush()
            status = subprocess.run(
                self.command(args), env=self.env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            ).returncode
        if status != 0:
            tail = "\n".join(log.read_text().splitlines()[-20:])
            raise BuildError(f"buildah {args[0]} failed (log: {log}):\n{tail}")
        return ""

    def inspect(self, reference: str) -> dict[str, Any] | None:
        """The image's buildah metadata, or None when the store has no such image."""
        try:
            out = self.run(["inspect", "--type", "image", reference])
        except BuildError:
            return None
        found: dict[str, Any] = json.loads(out)
        return found

    def image_id(self, reference: str) -> str:
        return self.run(["images", "--quiet", "--no-trunc", reference]).strip()

    def labels(self, reference: str) -> Mapping[str, str]:
        found = self.inspect(reference)
        if found is None:
            return {}
        labels: Mapping[str, str] | None = found.get("OCIv1", {}).get("config", {}).get("Labels")
        return labels or {}


class BuildError(RuntimeError):
    """A build step failed; the message names the log to read."""
