"""The platform's state folder (`.local/` by default): data dirs, logs, keys, credentials.

Everything a running platform writes lives here, so `make clean` is one `rm -rf` and the repo
never sees it (it is gitignored). Credentials are random per state folder, made on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from infra.local.pki import Pki
from infra.local.settings import PlatformSettings


@dataclass(frozen=True)
class Credentials:
    postgres_user: str
    postgres_password: str
    redis_password: str


@dataclass(frozen=True)
class State:
    settings: PlatformSettings

    @property
    def root(self) -> Path:
        return self.settings.state

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def logs(self) -> Path:
        return self.dir("logs")

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def postgres_root(self) -> Path:
        """Postgres' folder: in the state folder, unless the server's OS user cannot reach it.

        As root, Postgres runs as `postgres`, which needs search permission on every folder
        above its data; a checkout under a private home (mode 700) does not give that. Then
        the data goes to /var/tmp, in a folder named after this state folder.
        """
        inside = self.root / "postgres"
        if postgres_os_user() is None or _world_traversable(self.root):
            return inside
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"kubesaga-{digest}-postgres"

    def kubeconfig_for(self, component: str) -> Path:
        return self.dir("kubeconfigs") / f"{component}.kubeconfig"

    def credentials(self) -> Credentials:
        path = self.root / "credentials.json"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            fresh = {
                "postgres_user": "kubesaga",
                "postgres_password": secrets.token_urlsafe(18),
                "redis_password": secrets.token_urlsafe(18),
            }
            path.write_text(json.dumps(fresh, indent=2) + "\n")
            path.chmod(0o600)
        return Credentials(**json.loads(path.read_text()))


def postgres_os_user() -> str | None:
    """Postgres refuses to run as root; as root we run it as the Debian `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as e:
        raise RuntimeError(
            "running as root, and there is no 'postgres' user to run the database as; "
            "install Debian's postgresql package (make tools does) or run as a normal user"
        ) from e
    return "postgres"


def _world_traversable(folder: Path) -> bool:
    for path in (folder, *folder.parents):
        if path.exists() and not path.stat().st_mode & stat.S_IXOTH:
            return False
    return True
