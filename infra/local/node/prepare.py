"""The node's share of `up`'s preparation, run before supervisord starts anything.

Plans the instance's layout, makes its network namespace and cgroup root, its certificates
and kubeconfigs, and renders every config file. Each step keeps what is already there, so a
second `up` changes nothing; the network and cgroups are remade after a `down`.
"""

from __future__ import annotations

from pathlib import Path

from infra.local.kubeconfig import write_kubeconfig
from infra.local.node import cgroups, configs, network
from infra.local.node.layout import NODE_NAME, NodeLayout
from infra.local.node.probes import holder_pid
from infra.local.pki import (
    COREDNS,
    KUBE_PROXY,
    METRICS_SERVER,
    ClientIdentity,
    Pki,
    ensure_client_cert,
    ensure_serving_cert,
    node_identity,
)
from infra.local.state import State

METRICS_SERVER_NAMES = (
    "metrics-server.kube-system.svc",
    "metrics-server.kube-system.svc.cluster.local",
)


def prepare_node(state: State, layout: NodeLayout) -> None:
    files = configs.NodeFiles.of(state.root)
    if holder_pid(files, state.root) is None:
        # A file left by a holder that is gone: the next holder writes it once its mounts
        # are made, and until then nothing may enter a namespace a reused PID names.
        files.holder_pid.unlink(missing_ok=True)
    network.ensure(layout)
    cgroups.ensure(layout.cgroup_root)
    pki = state.pki
    kubelet_identity = node_identity(NODE_NAME)
    ensure_client_cert(pki, kubelet_identity)
    ensure_serving_cert(
        pki,
        *pki.serving("kubelet-serving"),
        common_name=f"system:node:{NODE_NAME}",
        names=(NODE_NAME,),
        ips=(layout.node_ip,),
    )
    ensure_serving_cert(
        pki,
        *pki.serving("metrics-server-serving"),
        common_name="metrics-server",
        names=METRICS_SERVER_NAMES,
        ips=(layout.node_ip,),
    )
    kubeconfigs = {
        name: _node_kubeconfig(state, pki, layout, name, identity)
        for name, identity in (
            ("kubelet", kubelet_identity),
            ("kube-proxy", KUBE_PROXY),
            ("coredns", COREDNS),
            ("metrics-server", METRICS_SERVER),
        )
    }
    configs.write_all(
        files,
        layout,
        ca_cert=pki.ca_cert,
        kubelet_serving=pki.serving("kubelet-serving"),
        kubeconfigs=kubeconfigs,
    )


def node_kubeconfig(state: State, name: str) -> Path:
    return state.kubeconfig_for(f"node-{name}")


def _node_kubeconfig(
    state: State, pki: Pki, layout: NodeLayout, name: str, identity: ClientIdentity
) -> Path:
    """Programs in the node's namespace reach the apiserver through the relay on its address."""
    server = f"https://{layout.node_ip}:{state.settings.ports.apiserver}"
    return write_kubeconfig(node_kubeconfig(state, name), pki=pki, identity=identity, server=server)
