"""Every component's /metrics passes `promtool check metrics` (Prometheus' own lint of the
exposition: names, units, help texts, histogram buckets) after a saga ran through all of them,
so every metric family has samples."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from kubernetes_asyncio import client

from infra.local.settings import PlatformSettings
from tests.e2e.harness import place_order
from tests.e2e.stack import Stack
from tests.e2e.test_saga_paths import settled


def promtool_check_metrics(exposition: str) -> subprocess.CompletedProcess[str]:
    binary = PlatformSettings().prometheus_bin / "promtool"
    return subprocess.run(
        [str(binary), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
async def saga_ran(stack: Stack, kube: client.ApiClient) -> None:
    order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-MUG", "quantity": 1}])
    assert (await settled(stack, kube, order_id))["status"]["phase"] == "Completed"


@pytest.mark.parametrize("component", ["orders", "inventory", "payments", "operator"])
async def test_promtool_finds_no_problem_in_the_exposition(
    stack: Stack, saga_ran: None, component: str
) -> None:
    urls = {name: f"{s.url}/metrics" for name, s in stack.services.items()}
    url = urls.get(component, stack.metrics_url)
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200
    assert "# HELP" in answer.text
    checked = promtool_check_metrics(answer.text)
    assert checked.returncode == 0, f"{component}: {checked.stdout}{checked.stderr}"
