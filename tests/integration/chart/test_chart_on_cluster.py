"""charts/kubesaga against the platform's real kube-apiserver: every object it renders is
accepted by a server-side dry run, the operator's Role grants exactly what it uses, and
`helm uninstall` leaves only the CRDs. (Pods running on the real node: tests/e2e.)"""

from __future__ import annotations

import pytest
import yaml

from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from tests.chart import CHART, PRODUCTION_VALUES, helm, render

pytestmark = pytest.mark.platform


@pytest.mark.parametrize("profile", ["development", "production"])
def test_every_rendered_object_passes_a_server_side_dry_run(
    platform: Endpoints, namespace: str, profile: str
) -> None:
    files = [PRODUCTION_VALUES] if profile == "production" else []
    manifests = render(values_files=files, namespace=namespace)
    namespaced = [m for m in manifests if m["kind"] != "CustomResourceDefinition"]
    document = {"apiVersion": "v1", "kind": "List", "items": namespaced}
    out = kubectl(
        platform.kubeconfig,
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=chart-test",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(document),
    )
    accepted = [line for line in out.splitlines() if "serverside-applied (server dry run)" in line]
    assert len(accepted) == len(namespaced), out
    crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
    kubectl(
        platform.kubeconfig,
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        input=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": crds}),
    )


CAN = [
    ("get", "orders.kubesaga.io"),
    ("list", "orders.kubesaga.io"),
    ("watch", "orders.kubesaga.io"),
    ("create", "orders.kubesaga.io"),
    ("patch", "orders.kubesaga.io"),
    ("delete", "orders.kubesaga.io"),
    ("patch", "orders.kubesaga.io/status"),
    ("create", "events"),
    ("create", "kopfpeerings.kopf.dev"),
    ("get", "kopfpeerings.kopf.dev"),  # the vitals read which replica is active
    ("patch", "kopfpeerings.kopf.dev"),
    ("watch", "kopfpeerings.kopf.dev"),
]
CANNOT = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("list", "pods"),
    ("create", "deployments.apps"),
    ("update", "orders.kubesaga.io"),
    ("delete", "kopfpeerings.kopf.dev"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
]


def test_install_grants_the_operator_what_it_uses_and_uninstall_leaves_only_the_crds(
    platform: Endpoints, namespace: str
) -> None:
    release = "shop"
    helm("install", release, str(CHART), "-n", namespace, kubeconfig=platform.kubeconfig)
    account = f"system:serviceaccount:{namespace}:{release}-kubesaga-operator"

    def can_i(verb: str, resource: str, where: str = namespace) -> bool:
        answer = kubectl(
            platform.kubeconfig,
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            where,
            "--as",
            account,
            ok_exit_codes=(0, 1),
        )
        return answer.strip() == "yes"

    assert [(v, r) for v, r in CAN if not can_i(v, r)] == []
    assert [(v, r) for v, r in CANNOT if can_i(v, r)] == []
    assert not can_i("list", "orders.kubesaga.io", "default"), "its own namespace only"

    installed = {
        (m["kind"], m["metadata"]["name"])
        for m in yaml.safe_load_all(
            helm("get", "manifest", release, "-n", namespace, kubeconfig=platform.kubeconfig)
        )
        if m
    }
    assert ("Role", f"{release}-kubesaga-operator") in installed
    helm("uninstall", release, "-n", namespace, "--wait", kubeconfig=platform.kubeconfig)
    left = kubectl(
        platform.kubeconfig,
        "get",
        "deployments,statefulsets,services,secrets,serviceaccounts,roles,rolebindings,"
        "poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,configmaps",
        "-n",
        namespace,
        "-l",
        f"app.kubernetes.io/instance={release}",
        "-o",
        "name",
    )
    assert left.strip() == ""
    assert helm("list", "-n", namespace, "-q", kubeconfig=platform.kubeconfig).strip() == ""
    for crd in ("orders.kubesaga.io", "kopfpeerings.kopf.dev"):
        kubectl(platform.kubeconfig, "get", "crd", crd)  # Helm never deletes a chart's CRDs
