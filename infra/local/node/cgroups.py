"""The node's cgroup root, `/kubesaga-<instance>`, in every hierarchy the host mounts.

The kubelet (cgroupfs driver, cgroup v1 here) puts every pod under this root and expects it
to exist in each hierarchy; cpuset needs its cpus and mems copied from the parent before any
process can join. `down` kills what is left in the tree, by the PIDs its cgroup.procs list,
and removes the directories bottom-up, so no pod outlives its platform.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def hierarchies() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mounts."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fs_type, *_ = line.split()
        if fs_type in ("cgroup", "cgroup2"):
            found.append(Path(mount_point))
    return found


def ensure(root: str) -> None:
    for hierarchy in hierarchies():
        folder = hierarchy / root.lstrip("/")
        folder.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (folder / name).exists() and not (folder / name).read_text().strip():
                (folder / name).write_text((hierarchy / name).read_text())


def remove(root: str, *, timeout: float = 10.0) -> list[str]:
    """Kill every process in the tree, then rmdir it; returns what could not be removed."""
    deadline = time.monotonic() + timeout
    while True:
        pids = processes(root)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    left = []
    for folder in folders(root):
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            left.append(f"{folder}: {e.strerror}")
    return left


def processes(root: str) -> set[int]:
    pids: set[int] = set()
    for folder in folders(root):
        try:
            pids.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def folders(root: str) -> list[Path]:
    """Every directory of the tree in every hierarchy, deepest first (the order rmdir needs)."""
    found = []
    for hierarchy in hierarchies():
        top = hierarchy / root.lstrip("/")
        if top.is_dir():
            found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)
