"""The base image, ``docker.io/library/debian:bookworm-slim``, made locally by mmdebstrap.

Built the way Debian's official slim image is (debuerreotype): the minbase variant, no docs,
man pages or locales, and apt configured to keep no package cache or translations, so the
Containerfiles' `apt-get install` lines behave as they do on the official base. The root
filesystem is made once and cached as a tar named by the digest of its recipe; bumping the
recipe (or deleting the cache) makes a new one. It is committed into the store with that
digest as a label, so an unchanged base is never re-imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from infra.images.catalog import BASE_REFERENCE
from infra.images.store import Store

SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/locale/*",
    "force-unsafe-io",
)
APT_OPTIONS = (
    'Acquire::Languages "none"',
    'Acquire::GzipIndexes "true"',
    'Apt::AutoRemove::SuggestsImportant "false"',
    # debuerreotype's docker-clean: no .deb or pkgcache left behind by any install.
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
    '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }',
    'Dir::Cache::pkgcache ""',
    'Dir::Cache::srcpkgcache ""',
)
# As in debuerreotype's images: no package's maintainer script starts a daemon. Here that
# matters twice over, since RUN steps share the host's network (chroot isolation). Added at
# import: mmdebstrap removes any policy-rc.d when it cleans up.
POLICY_RC_D = (
    "#!/bin/sh\n# Written by infra/images/base.py: never start services in a build.\nexit 101\n"
)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DIGEST_LABEL = "io.kubesaga.base.recipe"


def mmdebstrap_command(target: Path) -> list[str]:
    return [
        "mmdebstrap", "--variant=minbase", "--format=tar", "--mode=root",
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        *(f"--aptopt={option}" for option in APT_OPTIONS),
        SUITE, str(target), *MIRRORS,
    ]  # fmt: skip


def recipe_digest() -> str:
    """Names the cached root filesystem: any change to the recipe makes a new one."""
    recipe = json.dumps([mmdebstrap_command(Path("-")), PATH, POLICY_RC_D]).encode()
    return hashlib.sha256(recipe).hexdigest()[:12]


def ensure_base(store: Store, cache: Path, log: Path) -> str:
    """Make the root filesystem if not cached, import it if the store lacks it; say which."""
    digest = recipe_digest()
    rootfs = cache / f"debian-{SUITE}-slim-{digest}.tar"
    made = "cached"
    if not rootfs.exists():
        cache.mkdir(parents=True, exist_ok=True)
        # Per process, so two checkouts building at once never write the same file.
        partial = rootfs.with_suffix(f".{os.getpid()}.partial")
        started = time.monotonic()
        with log.open("a") as out:
            # A private mount namespace: mmdebstrap's /proc, /sys and /dev mounts never show.
            command = ["unshare", "--mount", "--propagation", "private", "--"]
            command += mmdebstrap_command(partial)
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"mmdebstrap failed; see {log}")
        partial.rename(rootfs)
        made = f"made by mmdebstrap in {time.monotonic() - started:.0f}s"
    if store.labels(BASE_REFERENCE).get(DIGEST_LABEL) == digest:
        return f"{made}, in the store"
    container = store.run(["from", "--pull-never", "scratch"]).strip()
    try:
        store.run(["add", "--quiet", container, str(rootfs), "/"], log=log)
        policy = store.config / "policy-rc.d"
        policy.write_text(POLICY_RC_D)
        store.run(
            ["copy", "--quiet", "--chmod", "755", container, str(policy), "/usr/sbin/policy-rc.d"],
            log=log,
        )
        store.run(
            ["config", "--env", f"PATH={PATH}", "--cmd", "bash", "--label",
             f"{DIGEST_LABEL}={digest}", container],
            log=log,
        )  # fmt: skip
        store.run(
            ["commit", "--quiet", "--signature-policy", str(store.policy), container,
             BASE_REFERENCE],
            log=log,
        )  # fmt: skip
    finally:
        store.run(["rm", container])
    return f"{made}, imported"
