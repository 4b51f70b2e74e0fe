"""Readiness of the node's programs, each asked what its users depend on.

Merged into infra/local/probes.py's table, so `up` waits for them and `status` reports them.
A probe returns when ready and raises with the reason when not.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from infra.local.node import layout as node_layout
from infra.local.node.configs import NodeFiles
from infra.local.node.dns import resolve_a
from infra.local.node.layout import KUBE_PROXY_HEALTHZ_PORT, NODE_NAME
from infra.local.state import State
from infra.local.supervisor import INSTANCE_VARIABLE

Probe = Callable[[], Awaitable[None]]
KUBERNETES_SERVICE_IP = "10.96.0.1"


class NodeNotReady(Exception):
    """The node's program answered, but not yet as a ready one would."""


def node_probes(state: State, admin_tls: Callable[[], ssl.SSLContext]) -> dict[str, Probe]:
    layout = node_layout.load(state.root)
    if layout is None:  # never prepared: every probe says so
        return {}
    files = NodeFiles.of(state.root)
    apiserver = f"https://127.0.0.1:{state.settings.ports.apiserver}"

    async def api_get(path: str) -> dict[str, object]:
        async with httpx.AsyncClient(verify=admin_tls(), timeout=3.0) as client:
            response = await client.get(f"{apiserver}{path}")
        if response.status_code != 200:
            raise NodeNotReady(f"GET {path} answered {response.status_code}")
        body: dict[str, object] = response.json()
        return body

    async def mounts() -> None:
        pid = holder_pid(files, state.root)
        if pid is None:
            raise NodeNotReady("the mount namespace's holder has not written its PID yet")
        if os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            raise NodeNotReady("the holder is still in the host's mount namespace")

    async def host_relay() -> None:
        _, writer = await asyncio.open_unix_connection(str(files.apiserver_socket))
        writer.close()

    async def node_relay() -> None:
        _, writer = await asyncio.open_connection(layout.node_ip, state.settings.ports.apiserver)
        writer.close()

    async def containerd() -> None:
        process = await asyncio.create_subprocess_exec(
            "ctr",
            f"--address={files.containerd_socket}",
            "version",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, error = await process.communicate()
        if process.returncode != 0:
            raise NodeNotReady(f"ctr version: {error.decode().strip()[:200]}")

    async def kubelet() -> None:
        node = await api_get(f"/api/v1/nodes/{NODE_NAME}")
        if not condition_true(node, "Ready"):
            raise NodeNotReady(f"node {NODE_NAME} is not Ready yet")

    async def kube_proxy() -> None:
        url = f"http://{layout.node_ip}:{KUBE_PROXY_HEALTHZ_PORT}/healthz"
        async with httpx.AsyncClient(timeout=3.0) as client:
            response = await client.get(url)
        if response.status_code != 200:
            raise NodeNotReady(f"GET {url} answered {response.status_code}")

    async def coredns() -> None:
        name = "kubernetes.default.svc.cluster.local"
        answer = await resolve_a(layout.node_ip, name)
        if KUBERNETES_SERVICE_IP not in answer:
            raise NodeNotReady(f"CoreDNS answered {answer} for {name}")

    async def metrics_server() -> None:
        service = await api_get(
            "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io"
        )
        if not condition_true(service, "Available"):
            raise NodeNotReady("the APIService v1beta1.metrics.k8s.io is not Available yet")

    return {
        "node-mounts": mounts,
        "apiserver-relay": host_relay,
        "node-relay": node_relay,
        "containerd": containerd,
        "kubelet": kubelet,
        "kube-proxy": kube_proxy,
        "coredns": coredns,
        "metrics-server": metrics_server,
    }


def holder_pid(files: NodeFiles, state_root: Path) -> int | None:
    """The live holder of this instance's mount namespace, from the file it writes.

    The PID must still be a process supervisord started for this state folder: a PID reused
    by anything else (another instance's holder, say) is not ours to enter.
    """
    try:
        pid = int(files.holder_pid.read_text().strip())
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    marker = f"{INSTANCE_VARIABLE}={state_root}".encode()
    return pid if marker in environment else None


def condition_true(resource: dict[str, object], kind: str) -> bool:
    status = resource.get("status")
    conditions = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)
