"""The API objects the node's programs need, applied by `up` before it starts them.

RBAC for the identities in their client certificates (the apiserver's kubelet client,
CoreDNS, metrics-server), and the aggregated metrics API: a selector-less Service whose
endpoint is metrics-server on the node's address, and the APIService that routes
metrics.k8s.io to it (its certificate is checked against the platform CA). `kubectl apply`
keeps this idempotent.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from infra.local.kubectl import kubectl
from infra.local.node.layout import METRICS_SERVER_PORT, NodeLayout
from infra.local.pki import APISERVER_KUBELET_CLIENT, COREDNS, METRICS_SERVER

Manifest = dict[str, object]


def apply(kubeconfig: Path, layout: NodeLayout, ca_cert: Path) -> None:
    items = [*rbac(), *metrics_api(layout, ca_cert)]
    kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kubesaga-up",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )


def rbac() -> list[Manifest]:
    return [
        _cluster_binding(
            "kubesaga:apiserver-kubelet", "system:kubelet-api-admin", APISERVER_KUBELET_CLIENT.user
        ),
        _cluster_role(
            "kubesaga:coredns",
            [
                _rule("", ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
                _rule("discovery.k8s.io", ["endpointslices"], ["list", "watch"]),
            ],
        ),
        _cluster_binding("kubesaga:coredns", "kubesaga:coredns", COREDNS.user),
        _cluster_role(
            "kubesaga:metrics-server",
            [
                _rule("", ["nodes/metrics"], ["get"]),
                _rule("", ["pods", "nodes"], ["get", "list", "watch"]),
            ],
        ),
        _cluster_binding("kubesaga:metrics-server", "kubesaga:metrics-server", METRICS_SERVER.user),
        # Delegated authentication and authorization of the requests the apiserver proxies.
        _cluster_binding(
            "kubesaga:metrics-server:auth-delegator", "system:auth-delegator", METRICS_SERVER.user
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "kubesaga:metrics-server:auth-reader", "namespace": "kube-system"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [_user(METRICS_SERVER.user)],
        },
    ]


def metrics_api(layout: NodeLayout, ca_cert: Path) -> list[Manifest]:
    name, namespace = "metrics-server", "kube-system"
    metadata = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": name}}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {
                "ports": [
                    {
                        "name": "https",
                        "port": 443,
                        "targetPort": METRICS_SERVER_PORT,
                        "protocol": "TCP",
                    }
                ]
            },
        },
        # The endpoint-slice mirroring controller copies this into an EndpointSlice.
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": metadata,
            "subsets": [
                {
                    "addresses": [{"ip": layout.node_ip}],
                    "ports": [{"name": "https", "port": METRICS_SERVER_PORT, "protocol": "TCP"}],
                }
            ],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": name, "namespace": namespace, "port": 443},
                "caBundle": base64.b64encode(ca_cert.read_bytes()).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def _rule(group: str, resources: list[str], verbs: list[str]) -> Manifest:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _cluster_role(name: str, rules: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def _cluster_binding(name: str, role: str, user: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [_user(user)],
    }


def _user(name: str) -> Manifest:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}
