"""A real Prometheus, run by the real Prometheus Operator on the node, scraping the release.

The operator and a Prometheus are installed as kube-prometheus-stack has them (selecting
`release: kube-prometheus-stack`), then the release is upgraded with that one label and
nothing else about monitoring: `monitoring.enabled` stays `auto`, so the ServiceMonitors, the
PrometheusRule and the dashboard appear because the cluster now serves their API. Intervals are
cut (5 s scrapes and rule evaluations, 10 s before the no-active-replica alert fires) so the
checks take seconds; the rules themselves are the chart's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.local import monitoring
from infra.local.portforward import port_forward
from infra.local.settings import PlatformSettings
from tests.chart import dashboard_queries, grafana_free
from tests.deployment.conftest import Release, place, settled
from tests.support import eventually

pytestmark = [pytest.mark.platform, pytest.mark.timeout(600)]

JOBS = {"orders", "inventory", "payments", "operator"}
NO_ACTIVE_REPLICA = "KubesagaOperatorNoActiveReplica"


class Prometheus:
    """Prometheus' HTTP API through a port-forward to the operator's `prometheus-operated`."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"

    async def get(self, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{self.base}/{path}", params=params)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        data = await self.get("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def scalar(self, promql: str) -> float:
        result = await self.query(promql)
        return float(result[0]["value"][1]) if result else 0.0

    async def alert_states(self, name: str, namespace: str) -> set[str]:
        alerts = (await self.get("alerts"))["alerts"]
        return {
            a["state"]
            for a in alerts
            if a["labels"].get("alertname") == name and a["labels"].get("namespace") == namespace
        }


@pytest.fixture(scope="module")
def prometheus(release: Release) -> Iterator[Prometheus]:
    settings = PlatformSettings()
    try:
        monitoring.install(
            settings,
            evaluation_interval="5s",
            say=lambda line: None,
            before_prometheus=lambda: release.upgrade(
                f"monitoring.labels.release={monitoring.STACK_RELEASE}",
                "monitoring.interval=5s",
                "monitoring.scrapeTimeout=4s",
                "monitoring.rules.noActiveReplicaFor=10s",
            ),
        )
        with port_forward(
            release.kubeconfig, monitoring.NAMESPACE, f"svc/{monitoring.PROMETHEUS_SERVICE}", 9090
        ) as port:
            yield Prometheus(port)
    finally:
        # Off before the CRDs go, so the release never names kinds the cluster lost.
        release.upgrade("monitoring.enabled=false")
        monitoring.uninstall(settings, say=lambda line: None)


def test_auto_renders_the_monitoring_objects_once_the_cluster_serves_their_api(
    release: Release, prometheus: Prometheus
) -> None:
    monitors = release.json("get", "servicemonitors")["items"]
    assert {m["metadata"]["name"] for m in monitors} == {release.component(j) for j in JOBS}
    assert all(m["metadata"]["labels"]["release"] == monitoring.STACK_RELEASE for m in monitors), (
        "the label kube-prometheus-stack's Prometheus selects"
    )
    (rule,) = release.json("get", "prometheusrules")["items"]
    assert rule["metadata"]["labels"]["release"] == monitoring.STACK_RELEASE
    assert release.json("get", "configmap", release.component("dashboard"))["data"]


async def test_prometheus_scrapes_every_component_through_its_service_monitor(
    release: Release, prometheus: Prometheus
) -> None:
    selector = f'up{{namespace="{release.namespace}"}}'

    async def every_job_up() -> list[dict[str, Any]] | None:
        result = await prometheus.query(selector)
        jobs = {r["metric"]["job"] for r in result}
        healthy = all(r["value"][1] == "1" for r in result)
        return result if jobs == JOBS and healthy else None

    try:
        result = await eventually(every_job_up, timeout=120, what="up == 1 for every component")
    except AssertionError:
        targets = await prometheus.get("targets", state="active")
        raise AssertionError(
            [(t["labels"], t["health"], t["lastError"]) for t in targets["activeTargets"]]
        ) from None
    assert all(r["metric"]["namespace"] == release.namespace for r in result)


def completed(release: Release) -> str:
    return f'sum(order_saga_completed_total{{job="operator",namespace="{release.namespace}"}})'


@pytest.fixture(scope="module")
async def sagas(release: Release, prometheus: Prometheus) -> float:
    """Three approved orders and a declined one, settled; the completed count before them."""
    before = await prometheus.scalar(completed(release))
    service = f"svc/{release.component('orders')}"
    with port_forward(release.kubeconfig, release.namespace, service, 80) as port:
        placed = [await place(release, port) for _ in range(3)]
        placed.append(await place(release, port, card="pm_card_chargeDeclined"))
    ends = [(await settled(release, order_id))["status"]["phase"] for order_id in placed]
    assert ends == ["Completed", "Completed", "Completed", "Cancelled"]
    return before


async def test_a_completed_saga_raises_order_saga_completed_total(
    release: Release, prometheus: Prometheus, sagas: float
) -> None:
    async def risen() -> float | None:
        now = await prometheus.scalar(completed(release))
        return now if now >= sagas + 3 else None

    await eventually(risen, timeout=60, what="order_saga_completed_total to rise by 3")


async def test_every_dashboard_query_returns_data(
    release: Release, prometheus: Prometheus, sagas: float
) -> None:
    """After completed and declined sagas, each panel has something to draw."""
    queries = [grafana_free(q, namespace=release.namespace) for q in dashboard_queries()]

    async def all_answer() -> list[str] | None:
        empty = [q for q in queries if not await prometheus.query(q)]
        return None if empty else []

    try:
        await eventually(all_answer, timeout=60, what="every dashboard query to return data")
    except AssertionError:
        empty = [q for q in queries if not await prometheus.query(q)]
        raise AssertionError(f"queries with no data: {empty}") from None


async def test_stopping_the_operator_fires_the_no_active_replica_alert(
    release: Release, prometheus: Prometheus
) -> None:
    operator = f"deployment/{release.component('operator')}-shard-0"
    namespace = release.namespace

    async def states(wanted: str) -> set[str] | None:
        now = await prometheus.alert_states(NO_ACTIVE_REPLICA, namespace)
        return now if (wanted in now if wanted else not now) else None

    assert not await prometheus.alert_states(NO_ACTIVE_REPLICA, namespace), "quiet at first"
    await asyncio.to_thread(release.kubectl, "scale", operator, "--replicas=0")
    try:
        await eventually(lambda: states("firing"), timeout=120, what=f"{NO_ACTIVE_REPLICA} firing")
    finally:
        await asyncio.to_thread(release.kubectl, "scale", operator, "--replicas=1")
        await asyncio.to_thread(release.kubectl, "rollout", "status", operator, "--timeout=180s")
    await eventually(lambda: states(""), timeout=120, what=f"{NO_ACTIVE_REPLICA} to resolve")
