"""Every name and address of one instance's node, derived from its state folder.

Two instances run side by side on one host, so nothing here may be shared: the netns, veth,
bridge and cgroup names carry a digest of the state folder, and the subnets a third octet
chosen from that digest. The node's link (a /30) and its pods' /24 are the only routes the host
sees; the octet is checked against the host's routing table and kept in `node/layout.json`,
so the apiserver's certificate, which names the node's address, stays valid across restarts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

NODE_NAME = "kubesaga-node"
# The kubelet labels its Node so; metrics-server scrapes only it (kwok nodes have no kubelet).
NODE_LABEL = "kubesaga.io/node=real"
KUBELET_PORT = 10250
KUBE_PROXY_HEALTHZ_PORT = 10256
METRICS_SERVER_PORT = 4443
# The node's link and its pods live in 10.201.<octet>.0/30 and 10.202.<octet>.0/24.
LINK_PREFIX = "10.201"
POD_PREFIX = "10.202"
OCTETS = range(16, 250)


@dataclass(frozen=True)
class NodeLayout:
    instance: str  # six hex digits of sha256(state folder)
    octet: int

    @property
    def netns(self) -> str:
        return f"kubesaga-{self.instance}"

    @property
    def host_veth(self) -> str:
        return f"ksh-{self.instance}"

    @property
    def node_veth(self) -> str:
        return f"ksn-{self.instance}"

    @property
    def bridge(self) -> str:
        return f"ksbr-{self.instance}"

    @property
    def cgroup_root(self) -> str:
        return f"/kubesaga-{self.instance}"

    @property
    def host_ip(self) -> str:
        return f"{LINK_PREFIX}.{self.octet}.1"

    @property
    def node_ip(self) -> str:
        """The node's InternalIP: kubelet, relay, CoreDNS and metrics-server listen here."""
        return f"{LINK_PREFIX}.{self.octet}.2"

    @property
    def link_cidr(self) -> str:
        return f"{LINK_PREFIX}.{self.octet}.0/30"

    @property
    def pod_cidr(self) -> str:
        return f"{POD_PREFIX}.{self.octet}.0/24"

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns


def instance_id(state_root: Path) -> str:
    return hashlib.sha256(str(state_root.resolve()).encode()).hexdigest()[:6]


def node_folder(state_root: Path) -> Path:
    return state_root / "node"


def plan(state_root: Path) -> NodeLayout:
    """The saved layout when its subnets are still free (or ours), else a fresh free octet."""
    instance = instance_id(state_root)
    saved = node_folder(state_root) / "layout.json"
    taken = _taken_octets(exclude_device=f"ksh-{instance}")
    if saved.exists():
        layout = NodeLayout(**json.loads(saved.read_text()))
        if layout.instance == instance and layout.octet not in taken:
            return layout
    start = int(instance, 16) % len(OCTETS)
    for step in range(len(OCTETS)):
        octet = OCTETS[(start + step) % len(OCTETS)]
        if octet not in taken:
            layout = NodeLayout(instance=instance, octet=octet)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(asdict(layout)) + "\n")
            return layout
    raise RuntimeError(f"no free {LINK_PREFIX}.x.0/30 subnet left on this host for the node")


def load(state_root: Path) -> NodeLayout | None:
    """The layout `up` saved, without planning one (for `down` and `status`)."""
    saved = node_folder(state_root) / "layout.json"
    if not saved.exists():
        return None
    return NodeLayout(**json.loads(saved.read_text()))


def _taken_octets(*, exclude_device: str) -> set[int]:
    """Octets whose link or pod subnet overlaps a route another device holds on this host."""
    routes = subprocess.run(
        ["ip", "-4", "-json", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        check=True,
    )
    networks = []
    for route in json.loads(routes.stdout or "[]"):
        if route.get("dev") == exclude_device or route.get("dst") in (None, "default"):
            continue
        try:
            networks.append(ipaddress.ip_network(route["dst"], strict=False))
        except ValueError:
            continue
    taken = set()
    for octet in OCTETS:
        ours = (
            ipaddress.ip_network(f"{LINK_PREFIX}.{octet}.0/30"),
            ipaddress.ip_network(f"{POD_PREFIX}.{octet}.0/24"),
        )
        if any(mine.overlaps(other) for mine in ours for other in networks):
            taken.add(octet)
    return taken
