"""The chart's Prometheus Operator objects: when they render, what they select, and how a
kube-prometheus-stack Prometheus picks them up. Rules are checked by promtool in
test_chart_alerts.py; scraping by a real Prometheus in tests/deployment/."""

from __future__ import annotations

import json

import pytest

from tests.chart import CHART, DASHBOARD, Manifest, helm, named, of_kind, render

MONITORING_API = "monitoring.coreos.com/v1"
COMPONENTS = ("inventory", "operator", "orders", "payments")
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")


def monitoring_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in MONITORING_KINDS]


def test_auto_renders_nothing_on_a_cluster_without_prometheus_operator() -> None:
    manifests = render()
    assert monitoring_objects(manifests) == []
    assert not [m for m in of_kind(manifests, "ConfigMap") if "dashboard" in m["metadata"]["name"]]


def test_auto_renders_a_servicemonitor_per_component_when_the_api_is_served() -> None:
    manifests = render(api_versions=[MONITORING_API])
    monitors = of_kind(manifests, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        f"shop-kubesaga-{component}" for component in COMPONENTS
    ]
    assert len(of_kind(manifests, "PrometheusRule")) == 1


@pytest.mark.parametrize(("value", "expected"), [("true", 4), ("false", 0)])
def test_the_value_overrides_auto_detection(value: str, expected: int) -> None:
    manifests = render(values={"monitoring.enabled": value}, api_versions=[MONITORING_API])
    assert len(of_kind(manifests, "ServiceMonitor")) == expected


def test_each_servicemonitor_selects_exactly_its_components_service_by_a_named_port() -> None:
    manifests = render(values={"monitoring.enabled": "true"})
    services = of_kind(manifests, "Service")
    for monitor in of_kind(manifests, "ServiceMonitor"):
        spec = monitor["spec"]
        selector = spec["selector"]["matchLabels"]
        chosen = [
            s for s in services if selector.items() <= s["metadata"].get("labels", {}).items()
        ]
        assert len(chosen) == 1, (
            monitor["metadata"]["name"],
            [s["metadata"]["name"] for s in chosen],
        )
        ports = {p["name"] for p in chosen[0]["spec"]["ports"]}
        assert [(e["port"], e["path"]) for e in spec["endpoints"]] in (
            [(port, "/metrics")] for port in ports
        )
        assert spec["jobLabel"] == "app.kubernetes.io/component"
        assert spec["namespaceSelector"] == {"matchNames": ["shop"]}
        # jobLabel names the job after the component, which the alerts select by.
        component = chosen[0]["metadata"]["labels"]["app.kubernetes.io/component"]
        assert monitor["metadata"]["name"] == f"shop-kubesaga-{component}"


def test_the_release_label_is_the_one_value_kube_prometheus_stack_needs() -> None:
    manifests = render(
        values={"monitoring.enabled": "true", "monitoring.labels.release": "kube-prometheus-stack"}
    )
    for found in monitoring_objects(manifests):
        assert found["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_scrape_interval_and_timeout_come_from_values() -> None:
    manifests = render(
        values={
            "monitoring.enabled": "true",
            "monitoring.interval": "5s",
            "monitoring.scrapeTimeout": "4s",
        }
    )
    for monitor in of_kind(manifests, "ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:
            assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("5s", "4s")


def test_every_alert_carries_severity_namespace_and_a_runbook_and_the_extra_labels() -> None:
    manifests = render(
        values={"monitoring.enabled": "true", "monitoring.rules.alertLabels.team": "shop"},
        namespace="prod",
    )
    rule = named(manifests, "PrometheusRule", "shop-kubesaga")
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert len(alerts) == 8
    for alert in alerts:
        assert alert["alert"].startswith("Kubesaga")
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["labels"]["namespace"] == "prod"
        assert alert["labels"]["team"] == "shop"
        assert 'namespace="prod"' in alert["expr"]
        assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())


def test_the_no_active_replica_alert_expects_one_active_replica_per_shard() -> None:
    manifests = render(values={"monitoring.enabled": "true", "operator.shards": "3"})
    rule = of_kind(manifests, "PrometheusRule")[0]
    alert = next(
        r
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if r["alert"] == "KubesagaOperatorNoActiveReplica"
    )
    assert alert["expr"].rstrip().endswith("< 3")


def test_rules_and_dashboard_can_be_turned_off_alone() -> None:
    manifests = render(
        values={
            "monitoring.enabled": "true",
            "monitoring.rules.enabled": "false",
            "monitoring.dashboard.enabled": "false",
        }
    )
    assert of_kind(manifests, "PrometheusRule") == []
    assert not [m for m in of_kind(manifests, "ConfigMap") if "dashboard" in m["metadata"]["name"]]
    assert len(of_kind(manifests, "ServiceMonitor")) == 4


def test_the_dashboard_configmap_carries_the_sidecar_label_and_the_json() -> None:
    manifests = render(values={"monitoring.enabled": "true"})
    config = named(manifests, "ConfigMap", "shop-kubesaga-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    on_disk = json.loads(DASHBOARD.read_text())
    assert json.loads(config["data"]["kubesaga.json"]) == on_disk


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("monitoring.enabled=yes", "/monitoring/enabled"),
        ("monitoring.interval=often", "/monitoring/interval"),
        ("monitoring.rules.errorRatio=2", "/monitoring/rules/errorRatio"),
        ("monitoring.rules.noActiveReplicaFor=soon", "/monitoring/rules/noActiveReplicaFor"),
    ],
)
def test_the_schema_refuses_bad_monitoring_values_naming_the_field(value: str, field: str) -> None:
    output = helm("template", "shop", str(CHART), "--set", value, check=False)
    assert field in output
