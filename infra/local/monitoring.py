"""Prometheus Operator on the local platform's real node, as kube-prometheus-stack users have it.

`python -m infra.local monitoring install` applies upstream's CRDs and operator (bundle.yaml
from the operator's Go module source, which `make tools` copied, moved into namespace
`monitoring`) and one `Prometheus` that selects ServiceMonitors and PrometheusRules in every
namespace by ``release: kube-prometheus-stack``, as kube-prometheus-stack's Prometheus selects
its own release's name. A kubesaga release is picked up by setting that one value
(``monitoring.labels.release=kube-prometheus-stack``); with the CRDs present its
``monitoring.enabled: auto`` renders the ServiceMonitors, the PrometheusRule and the dashboard.
The images are the ones `make images` built under the official names, so the same manifests
run on kind, where they are pulled instead.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from infra.images.cli import import_images
from infra.local.kubectl import kubectl
from infra.local.settings import PlatformSettings, read_versions

NAMESPACE = "monitoring"
STACK_RELEASE = "kube-prometheus-stack"
PROMETHEUS = f"{STACK_RELEASE}-prometheus"
# The governing Service the operator makes for every Prometheus: port 9090, named `web`.
PROMETHEUS_SERVICE = "prometheus-operated"
IMAGES = ("prometheus-operator", "prometheus-config-reloader", "prometheus")
# The operator's own kubelet Service (kube-system/kubelet) serves kube-prometheus-stack's
# kubelet scrape, which this platform has no use for; without it nothing is left outside
# `monitoring` but cluster-scoped RBAC and the CRDs, which `uninstall` removes.
DROPPED_OPERATOR_ARGS = ("--kubelet-service=", "--kubelet-endpoints=", "--kubelet-endpointslice=")
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}

Manifest = dict[str, Any]


class _BundleLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a bare ``=`` (an enum value in the CRDs) as the obsolete `value` tag."""


_BundleLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def bundle_path(settings: PlatformSettings) -> Path:
    return settings.prometheus_operator_bin.parent / "manifests" / "bundle.yaml"


def split_bundle(text: str, namespace: str = NAMESPACE) -> tuple[list[Manifest], list[Manifest]]:
    """bundle.yaml's CRDs, and its other objects moved from `default` into ``namespace``."""
    crds: list[Manifest] = []
    objects: list[Manifest] = []
    for document in yaml.load_all(text, Loader=_BundleLoader):
        if not document:
            continue
        if document["kind"] == "CustomResourceDefinition":
            crds.append(document)
            continue
        moved = copy.deepcopy(document)
        if moved["kind"] not in CLUSTER_SCOPED:
            moved["metadata"]["namespace"] = namespace
        for subject in moved.get("subjects", []):
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        if moved["kind"] == "Deployment":
            for container in moved["spec"]["template"]["spec"]["containers"]:
                container["args"] = [
                    arg
                    for arg in container.get("args", [])
                    if not arg.startswith(DROPPED_OPERATOR_ARGS)
                ]
        objects.append(moved)
    if not crds or not any(o["kind"] == "Deployment" for o in objects):
        raise ValueError("bundle.yaml holds no CRDs or no operator Deployment")
    return crds, objects


def prometheus_objects(
    version: str, evaluation_interval: str = "30s", namespace: str = NAMESPACE
) -> list[Manifest]:
    """A Prometheus as kube-prometheus-stack makes it, with the RBAC its discovery needs.

    The ClusterRole is upstream's example/rbac/prometheus one: read Services, Endpoints(Slices)
    and Pods in every namespace, which ServiceMonitors resolve to.
    """
    labels = {"app.kubernetes.io/name": "prometheus", "release": STACK_RELEASE}
    selector = {"matchLabels": {"release": STACK_RELEASE}}
    read = ["get", "list", "watch"]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": PROMETHEUS, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": PROMETHEUS, "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": PROMETHEUS, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": PROMETHEUS,
            },
            "subjects": [{"kind": "ServiceAccount", "name": PROMETHEUS, "namespace": namespace}],
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": PROMETHEUS, "namespace": namespace, "labels": labels},
            "spec": {
                "version": version,
                "image": f"quay.io/prometheus/prometheus:{version}",
                "replicas": 1,
                "serviceAccountName": PROMETHEUS,
                "serviceMonitorSelector": selector,
                "serviceMonitorNamespaceSelector": {},
                "podMonitorSelector": selector,
                "podMonitorNamespaceSelector": {},
                "ruleSelector": selector,
                "ruleNamespaceSelector": {},
                "evaluationInterval": evaluation_interval,
                "retention": "6h",
                "resources": {"requests": {"cpu": "50m", "memory": "200Mi"}},
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "fsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            },
        },
    ]


def _apply(kubeconfig: Path | str, objects: list[Manifest]) -> None:
    # Server-side: the CRDs are larger than client-side apply's last-applied annotation allows.
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", input=document)


def _names(objects: list[Manifest]) -> list[str]:
    return [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects]


def install(
    settings: PlatformSettings,
    *,
    evaluation_interval: str = "30s",
    timeout_seconds: int = 300,
    say: Callable[[str], None] = print,
    before_prometheus: Callable[[], None] = lambda: None,
) -> None:
    """Import the images, apply the CRDs, the operator and the Prometheus; wait for each.

    ``before_prometheus`` runs once the CRDs serve: ServiceMonitors made then are in the
    Prometheus' first config, rather than reaching it through the kubelet's secret sync (~1 min).
    """
    kubeconfig = settings.kubeconfig
    crds, operator = split_bundle(bundle_path(settings).read_text())
    version = read_versions()["PROMETHEUS_VERSION"]
    timeout = f"--timeout={timeout_seconds}s"
    started = time.monotonic()

    def step(message: str) -> None:
        say(f"  monitoring {time.monotonic() - started:6.1f}s  {message}")

    step(f"importing {', '.join(IMAGES)} into the node")
    import_images(settings, list(IMAGES))
    step(f"applying {len(crds)} CRDs (monitoring.coreos.com)")
    _apply(kubeconfig, crds)
    kubectl(kubeconfig, "wait", "--for=condition=Established", timeout, *_names(crds))
    step(f"applying the operator into namespace {NAMESPACE}")
    _apply(kubeconfig, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
    _apply(kubeconfig, operator)
    kubectl(
        kubeconfig, "-n", NAMESPACE, "rollout", "status", "deployment/prometheus-operator", timeout
    )
    before_prometheus()
    step(f"applying Prometheus {PROMETHEUS} {version} (selects release={STACK_RELEASE})")
    _apply(kubeconfig, prometheus_objects(version, evaluation_interval))
    kubectl(
        kubeconfig,
        "-n",
        NAMESPACE,
        "wait",
        "--for=condition=Available",
        timeout,
        f"prometheus/{PROMETHEUS}",
    )
    step(f"ready: kubectl -n {NAMESPACE} port-forward svc/{PROMETHEUS_SERVICE} 9090")


def uninstall(settings: PlatformSettings, *, say: Callable[[str], None] = print) -> None:
    """Delete the Prometheus (the operator removes its StatefulSet), the namespace, the
    cluster-scoped RBAC and the CRDs, waiting for each, so a later install starts clean."""
    kubeconfig = settings.kubeconfig
    crds, operator = split_bundle(bundle_path(settings).read_text())
    version = read_versions()["PROMETHEUS_VERSION"]
    prometheus = prometheus_objects(version)
    cluster_scoped = [o for o in [*operator, *prometheus] if o["kind"] in CLUSTER_SCOPED]
    say(f"  monitoring: deleting Prometheus {PROMETHEUS} and namespace {NAMESPACE}")
    kubectl(kubeconfig, "-n", NAMESPACE, "delete", "--ignore-not-found", f"prometheus/{PROMETHEUS}")
    kubectl(kubeconfig, "delete", "--ignore-not-found", f"namespace/{NAMESPACE}")
    say(
        f"  monitoring: deleting {len(cluster_scoped)} cluster roles and bindings, {len(crds)} CRDs"
    )
    kubectl(kubeconfig, "delete", "--ignore-not-found", *_names(cluster_scoped))
    kubectl(kubeconfig, "delete", "--ignore-not-found", *_names(crds))


def status(settings: PlatformSettings) -> str:
    """The Prometheus, its pods and how to reach its HTTP API."""
    listing = kubectl(settings.kubeconfig, "-n", NAMESPACE, "get", "prometheus,pods", "-o", "wide")
    reach = f"kubectl -n {NAMESPACE} port-forward svc/{PROMETHEUS_SERVICE} 9090"
    return f"{listing}\nHTTP API: {reach}, then http://127.0.0.1:9090/api/v1/targets\n"
