"""`down` for the node: no pod, process, mount, cgroup, netns or veth outlives the platform.

`drain` runs first, while containerd still answers: it stops the kubelet (so nothing is
restarted) and removes every container and sandbox through containerd. After supervisord
has stopped the node's programs, `remove` kills what is left in the instance's cgroup tree
(by the PIDs its cgroup.procs list), removes the tree, deletes the network namespace (and
with it the veth pair and the host's route), and reports anything still there. The mount
namespace needs no unmounting: it ends with its last process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from infra.local.node import cgroups, network
from infra.local.node import layout as node_layout
from infra.local.node.configs import NodeFiles
from infra.local.node.images import NAMESPACE


def drain(state_root: Path, stop_kubelet: Callable[[], None]) -> int:
    """Remove every container in containerd's k8s.io namespace; returns how many."""
    stop_kubelet()
    socket = NodeFiles.of(state_root).containerd_socket
    if not socket.exists():
        return 0
    ctr = ["ctr", f"--address={socket}", f"--namespace={NAMESPACE}"]
    listing = subprocess.run(
        [*ctr, "containers", "list", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    if listing.returncode != 0:  # containerd is gone: `remove` kills by cgroup instead
        return 0
    containers = listing.stdout.split()
    for container in containers:
        subprocess.run(
            [*ctr, "tasks", "delete", "--force", container],
            capture_output=True,
            check=False,
            timeout=20,
        )
        subprocess.run(
            [*ctr, "containers", "delete", container], capture_output=True, check=False, timeout=20
        )
    return len(containers)


def remove(state_root: Path) -> list[str]:
    """Undo the node's host-side pieces; returns what is still there (empty when clean)."""
    layout = node_layout.load(state_root)
    if layout is None:
        return []
    left = cgroups.remove(layout.cgroup_root)
    NodeFiles.of(state_root).holder_pid.unlink(missing_ok=True)
    network.remove(layout)
    left += network.leftovers(layout)
    left += [f"mount {m}" for m in mounts_under(state_root)]
    return left


def mounts_under(folder: Path) -> list[str]:
    """Mount points below `folder` that this (the host's) mount namespace shows."""
    prefix = str(folder.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mount_point = line.split()[1].replace("\\040", " ")
        if mount_point == prefix or mount_point.startswith(prefix + "/"):
            found.append(mount_point)
    return found
