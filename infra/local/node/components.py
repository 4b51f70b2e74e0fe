"""The node's supervisord programs, and the start-up wave each joins.

Wave 0 makes the mount namespace (a holder process that mounts the tmpfs and shadow files,
then sleeps) and the host end of the apiserver relay; wave 1, beside kube-apiserver, the
node end of the relay and containerd; wave 3, after the controllers, the kubelet,
kube-proxy, CoreDNS and metrics-server. Everything but the host relay runs inside the node's
network and mount namespaces, entered by `inside_node`.

The apiserver listens on loopback only, which the node's namespace cannot reach: the relay
carries TCP from the node's address, through a unix socket in the state folder (paths cross
network namespaces), to 127.0.0.1. It is also the `kubernetes` Service's endpoint.
"""

from __future__ import annotations

from infra.local.components import Component
from infra.local.node import layout as node_layout
from infra.local.node.configs import NodeFiles, kubelet_flags
from infra.local.node.layout import METRICS_SERVER_PORT, NODE_LABEL, NodeLayout
from infra.local.node.prepare import node_kubeconfig
from infra.local.state import State

NODE_WAVE = 3

# Enter the holder's mount namespace (its PID is in a file only known at start) and the
# node's network namespace, then exec: supervisord then tracks and signals the program itself.
_ENTER = (
    'pid=$(cat "$0") && ns=$1 && shift && '
    'exec nsenter --mount="/proc/$pid/ns/mnt" --net="$ns" -- "$@"'
)


def inside_node(files: NodeFiles, layout: NodeLayout, argv: list[str]) -> list[str]:
    return ["/bin/sh", "-c", _ENTER, str(files.holder_pid), str(layout.netns_path), *argv]


def node_components(state: State) -> list[Component]:
    layout = node_layout.load(state.root)
    if layout is None:
        raise RuntimeError("the node has no layout yet: `up` prepares it first")
    files = NodeFiles.of(state.root)
    settings, pki = state.settings, state.pki
    apiserver_port = settings.ports.apiserver
    metrics_kubeconfig = node_kubeconfig(state, "metrics-server")
    metrics_cert, metrics_key = pki.serving("metrics-server-serving")

    def node(name: str, argv: list[str], wave: int, stop_seconds: int = 20) -> Component:
        return Component(name, inside_node(files, layout, argv), wave, stop_seconds=stop_seconds)

    return [
        Component(
            "node-mounts",
            [
                "nsenter",
                f"--net={layout.netns_path}",
                "--",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                str(files.holder_script),
            ],
            wave=0,
            stop_seconds=5,
        ),
        Component(
            "apiserver-relay",
            [
                "socat",
                f"UNIX-LISTEN:{files.apiserver_socket},fork,unlink-early,mode=600",
                f"TCP:127.0.0.1:{apiserver_port}",
            ],
            wave=0,
            stop_seconds=5,
        ),
        node(
            "node-relay",
            [
                "socat",
                f"TCP-LISTEN:{apiserver_port},bind={layout.node_ip},fork,reuseaddr",
                f"UNIX-CONNECT:{files.apiserver_socket}",
            ],
            wave=1,
            stop_seconds=5,
        ),
        node(
            "containerd",
            ["containerd", f"--config={files.containerd_config}", "--log-level=warn"],
            wave=1,
        ),
        node(
            "kubelet",
            [
                str(settings.k8s_bin / "kubelet"),
                *kubelet_flags(files, layout, node_kubeconfig(state, "kubelet")),
            ],
            wave=NODE_WAVE,
        ),
        node(
            "kube-proxy",
            [str(settings.k8s_bin / "kube-proxy"), f"--config={files.kube_proxy_config}", "--v=1"],
            wave=NODE_WAVE,
        ),
        node(
            "coredns",
            [
                str(settings.tool_bin("coredns", "COREDNS_VERSION") / "coredns"),
                "-conf",
                str(files.corefile),
            ],
            wave=NODE_WAVE,
            stop_seconds=5,
        ),
        node(
            "metrics-server",
            [
                str(
                    settings.tool_bin("metrics-server", "METRICS_SERVER_VERSION") / "metrics-server"
                ),
                f"--bind-address={layout.node_ip}",
                f"--secure-port={METRICS_SERVER_PORT}",
                f"--tls-cert-file={metrics_cert}",
                f"--tls-private-key-file={metrics_key}",
                f"--cert-dir={files.root / 'metrics-server'}",
                f"--kubeconfig={metrics_kubeconfig}",
                f"--authentication-kubeconfig={metrics_kubeconfig}",
                f"--authorization-kubeconfig={metrics_kubeconfig}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={pki.ca_cert}",
                "--kubelet-use-node-status-port",
                f"--node-selector={NODE_LABEL}",
                "--metric-resolution=10s",
                "--kubelet-request-timeout=5s",
                "--profiling=false",
            ],
            wave=NODE_WAVE,
            stop_seconds=5,
        ),
    ]
