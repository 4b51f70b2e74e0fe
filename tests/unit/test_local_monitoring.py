"""The Prometheus Operator install the local platform makes from upstream's bundle.yaml: the
objects land in `monitoring`, run the images `make images` tags, and the Prometheus selects
what kube-prometheus-stack's does."""

from __future__ import annotations

from typing import Any

import pytest

from infra.images import catalog
from infra.local import monitoring
from infra.local.settings import PlatformSettings, read_versions


@pytest.fixture(scope="module")
def bundle() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return monitoring.split_bundle(monitoring.bundle_path(PlatformSettings()).read_text())


def tags() -> set[str]:
    return {tag for image in catalog.catalog(PlatformSettings()) for tag in image.tags}


def test_the_crds_are_prometheus_operators_own(
    bundle: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    crds, _ = bundle
    names = {crd["metadata"]["name"] for crd in crds}
    assert {"servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com",
            "prometheuses.monitoring.coreos.com"} <= names  # fmt: skip
    assert all(crd["spec"]["group"] == "monitoring.coreos.com" for crd in crds)


def test_the_operator_moves_into_its_namespace_and_runs_the_images_built_here(
    bundle: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _, objects = bundle
    for thing in objects:
        if thing["kind"] in monitoring.CLUSTER_SCOPED:
            assert "namespace" not in thing["metadata"], thing["metadata"]
        else:
            assert thing["metadata"]["namespace"] == monitoring.NAMESPACE, thing["metadata"]
        for subject in thing.get("subjects", []):
            assert subject["namespace"] == monitoring.NAMESPACE
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] in tags()
    reloader = [
        a.split("=", 1)[1]
        for a in container["args"]
        if a.startswith("--prometheus-config-reloader=")
    ]
    assert reloader and reloader[0] in tags(), container["args"]
    assert not [a for a in container["args"] if a.startswith("--kubelet")], container["args"]


def test_the_prometheus_selects_by_release_in_every_namespace_and_runs_the_image_built_here() -> (
    None
):
    version = read_versions()["PROMETHEUS_VERSION"]
    objects = monitoring.prometheus_objects(version, "5s")
    (prometheus,) = [o for o in objects if o["kind"] == "Prometheus"]
    spec = prometheus["spec"]
    assert spec["image"] in tags()
    wanted = {"matchLabels": {"release": monitoring.STACK_RELEASE}}
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}Selector"] == wanted
        assert spec[f"{kind}NamespaceSelector"] == {}  # every namespace
    assert spec["evaluationInterval"] == "5s"
    (binding,) = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"][0]["name"] == spec["serviceAccountName"]


def test_a_bundle_without_the_operator_is_refused() -> None:
    crd = "kind: CustomResourceDefinition\nmetadata: {name: x.monitoring.coreos.com}\n"
    with pytest.raises(ValueError, match="no operator Deployment"):
        monitoring.split_bundle(crd)
