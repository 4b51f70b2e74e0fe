"""The node's network namespace, its veth link to the host, and the host's route to its pods.

Made by `up` before supervisord starts anything (the node's programs enter the namespace by
its /run/netns path) and removed by `down`. The host end of the veth carries the link's
first address; the node end carries the node's InternalIP. Inside the namespace only: IP
forwarding (pods reach the node and the host through the CNI bridge) and loopback. The host
gets no sysctl change and no iptables rule: deleting the namespace deletes the veth pair,
and with it the host's addresses and routes.
"""

from __future__ import annotations

import subprocess

from infra.local.node.layout import NodeLayout


def ensure(layout: NodeLayout) -> None:
    """Create what is missing; a half-made namespace (an interrupted `up`) is made anew."""
    if _exists(layout) and _link_ready(layout):
        return
    remove(layout)
    ns = layout.netns
    _ip("netns", "add", ns)
    _ip(
        "link",
        "add",
        layout.host_veth,
        "type",
        "veth",
        "peer",
        "name",
        layout.node_veth,
        "netns",
        ns,
    )
    _ip("addr", "add", f"{layout.host_ip}/30", "dev", layout.host_veth)
    _ip("link", "set", layout.host_veth, "up")
    _ip("-n", ns, "addr", "add", f"{layout.node_ip}/30", "dev", layout.node_veth)
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "link", "set", layout.node_veth, "up")
    _ip("route", "add", layout.pod_cidr, "via", layout.node_ip, "dev", layout.host_veth)
    # Per namespace: the node routes between its pods' bridge and its link to the host.
    subprocess.run(
        ["nsenter", f"--net={layout.netns_path}", "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        check=True,
    )


def remove(layout: NodeLayout) -> None:
    """Delete the namespace (and so the veth pair); then the host end, should it remain."""
    if _exists(layout):
        _ip("netns", "delete", layout.netns)
    if _device_exists(layout.host_veth):
        _ip("link", "delete", layout.host_veth)


def leftovers(layout: NodeLayout) -> list[str]:
    """What of this instance's network the host still shows: for `down` and the tests."""
    found = []
    if _exists(layout):
        found.append(f"netns {layout.netns}")
    if _device_exists(layout.host_veth):
        found.append(f"link {layout.host_veth}")
    return found


def _exists(layout: NodeLayout) -> bool:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return any(line.split()[0] == layout.netns for line in listing.stdout.splitlines() if line)


def _link_ready(layout: NodeLayout) -> bool:
    if not _device_exists(layout.host_veth):
        return False
    inside = subprocess.run(
        ["ip", "-n", layout.netns, "-4", "-o", "addr", "show", "dev", layout.node_veth],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{layout.node_ip}/30" in inside.stdout


def _device_exists(name: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False)
    return shown.returncode == 0


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
