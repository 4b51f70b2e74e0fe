"""The Grafana dashboard's structure, read as Grafana would (no Grafana can run here): its
variables, panels, units and layout, and that every query and alert names a metric kubesaga
exports. test_chart_alerts.py parses the queries with promtool; tests/deployment runs them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import REGISTRY

import operators.saga.metrics
import operators.saga.vitals
import services.runtime.circuit_breaker
import services.runtime.consumer
import services.runtime.relay
import services.runtime.web
from tests.chart import DASHBOARD, of_kind, render

EXPORTERS = (
    operators.saga.metrics,
    operators.saga.vitals,
    services.runtime.circuit_breaker,
    services.runtime.consumer,
    services.runtime.relay,
    services.runtime.web,
)
# Panels the dashboard must have, by the metric each reads (what an operator of kubesaga looks
# at first: outcomes, durations, in flight, outbox, dead letters, breakers, RED).
REQUIRED_METRICS = (
    "order_saga_completed_total",
    "order_saga_compensated_total",
    "order_saga_failed_total",
    "order_saga_duration_seconds_bucket",
    "order_saga_step_duration_seconds_bucket",
    "order_saga_in_flight",
    "outbox_pending",
    "outbox_publish_lag_seconds_bucket",
    "consumer_dead_letters_total",
    "circuit_breaker_state",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
)
PROMQL_WORDS = {
    "sum", "max", "min", "count", "by", "rate", "increase", "histogram_quantile", "or", "and",
    "unless", "offset", "vector", "max_over_time", "label_values", "bool", "le", "on",
}  # fmt: skip
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
METRIC = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\))")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def metrics_in(query: str) -> set[str]:
    """Metric names a PromQL query reads: identifiers followed by a selector or a range."""
    bare = re.sub(r'"[^"]*"', '""', query)
    bare = GROUPING.sub("", bare)  # `by (reason)` names labels, not metrics
    return {m for m in METRIC.findall(bare) if m not in PROMQL_WORDS}


def test_the_datasource_and_namespace_are_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "query"
    assert variables["namespace"]["datasource"]["uid"] == "${datasource}"
    assert dashboard["uid"] and dashboard["title"] == "kubesaga"


def test_every_panel_reads_the_chosen_datasource_and_namespace(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'namespace="$namespace"' in target["expr"], (panel["title"], target["expr"])
            assert target["legendFormat"], panel["title"]


def test_every_panel_has_a_title_a_description_and_a_unit(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        assert panel["title"] and panel["description"].endswith("."), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"] in (
            "short", "s", "ops", "reqps", "percentunit",
        ), panel["title"]  # fmt: skip
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in panels(dashboard)}
    assert units["Saga duration p50 / p95"] == "s"
    assert units["Error ratio"] == "percentunit"


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"])
                for y in range(box["y"], box["y"] + box["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_the_dashboard_shows_what_an_operator_of_kubesaga_looks_at(
    dashboard: dict[str, Any],
) -> None:
    read = {m for p in panels(dashboard) for t in p["targets"] for m in metrics_in(t["expr"])}
    assert set(REQUIRED_METRICS) <= read, set(REQUIRED_METRICS) - read


def test_every_dashboard_query_and_alert_names_an_exported_metric(
    dashboard: dict[str, Any],
) -> None:
    exported = exported_names()
    queries = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
    rule = of_kind(render(values={"monitoring.enabled": "true"}), "PrometheusRule")[0]
    queries += [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    for query in queries:
        unknown = metrics_in(query) - exported
        assert not unknown, f"{sorted(unknown)} in {query}"


def test_the_metric_finder_sees_through_functions_and_strings() -> None:
    query = 'histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="rate(y)"}[5m]))) or vector(0)'
    assert metrics_in(query) == {"x_bucket"}
    assert metrics_in("sum by (reason) (z) / max without (pod) (w{})") == {"z", "w"}
