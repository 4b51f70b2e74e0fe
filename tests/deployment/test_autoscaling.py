"""The orders HPA on the real node: up through metrics-server under a bounded load, and back
down once the load stops. The load runs in a pod of its own, against the orders Service."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infra.images.node import kubesaga_tag
from infra.local.settings import PlatformSettings
from tests.deployment.conftest import Release
from tests.support import eventually

pytestmark = [pytest.mark.platform, pytest.mark.timeout(600)]

# At most LOAD_SECONDS of GET /orders from 8 threads; the pod ends by itself.
LOAD_SECONDS = 150
LOAD = f"""
import threading, time, httpx
deadline = time.monotonic() + {LOAD_SECONDS}
def hammer():
    with httpx.Client(base_url="http://{{service}}", timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                http.get("/orders", params={{"limit": 50}})
            except httpx.HTTPError:
                time.sleep(0.1)
threads = [threading.Thread(target=hammer) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def hpa(release: Release) -> dict[str, Any]:
    found: dict[str, Any] = release.json("get", "hpa", release.component("orders"))
    return found


async def test_orders_scales_up_under_load_and_back_down_after(release: Release) -> None:
    await asyncio.to_thread(
        release.upgrade,
        "orders.overrides.autoscaling.enabled=true",
        "orders.overrides.autoscaling.minReplicas=1",
        "orders.overrides.autoscaling.maxReplicas=3",
        # An idle orders pod uses ~30m of its 50m request (its relay and consumer poll), so
        # the target sits above idle: the load crosses it, and idle falls back below.
        "orders.overrides.autoscaling.targetCPUUtilizationPercentage=150",
    )

    async def measured() -> dict[str, Any] | None:
        metrics = (await asyncio.to_thread(hpa, release)).get("status", {}).get("currentMetrics")
        return metrics or None

    await eventually(measured, timeout=120, what="the HPA's first CPU reading from metrics-server")
    load = "orders-load"
    script = LOAD.replace("{service}", release.component("orders"))
    release.kubectl(
        "run",
        load,
        "--restart=Never",
        f"--image=ghcr.io/kubesaga/kubesaga:{kubesaga_tag(PlatformSettings())}",
        "--image-pull-policy=IfNotPresent",
        "--command",
        "--",
        "python",
        "-c",
        script,
    )
    try:

        async def scaled_up() -> int | None:
            replicas = (await asyncio.to_thread(hpa, release))["status"].get("desiredReplicas", 1)
            return replicas if replicas > 1 else None

        up = await eventually(scaled_up, timeout=LOAD_SECONDS, what="orders to scale up")
        assert 1 < up <= 3
    finally:
        release.kubectl("delete", "pod", load, "--wait=false", "--ignore-not-found")

    async def scaled_down() -> bool | None:
        deployment = await asyncio.to_thread(
            release.json, "get", "deployment", release.component("orders")
        )
        return True if deployment["spec"]["replicas"] == 1 else None

    # The chart's scale-down window is 60 s; metrics-server's readings trail by up to 15 s.
    try:
        await eventually(scaled_down, timeout=240, what="orders to scale back down to 1")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{release.kubectl('describe', 'hpa')}") from e
