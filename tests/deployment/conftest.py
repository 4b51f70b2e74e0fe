"""The chart installed on the platform's real node, once per session, as `make demo` does.

A release of its own in a namespace of its own (`deploy-<hex>`), with the images `make images`
imported into the node, the development profile (in-cluster Postgres, Kafka and Redis) and
infra/local/values-local.yaml. It is uninstalled and its namespace deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infra.images.node import kubesaga_tag
from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from infra.local.settings import REPO_ROOT, PlatformSettings
from tests.chart import CHART, helm
from tests.support import eventually

LOCAL_VALUES = REPO_ROOT / "infra" / "local" / "values-local.yaml"
RELEASE = "shop"


@dataclass(frozen=True)
class Release:
    kubeconfig: str
    namespace: str
    name: str = RELEASE

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return kubectl(self.kubeconfig, "-n", self.namespace, *args, input=input)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def helm(self, *args: str) -> str:
        return helm(*args, "-n", self.namespace, kubeconfig=self.kubeconfig)

    def component(self, name: str) -> str:
        return f"{self.name}-kubesaga-{name}"

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name}"
        if component:
            selector += f",app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = self.json("get", "pods", "-l", selector)["items"]
        return items

    def psql(self, database: str, query: str) -> str:
        """A query through the Postgres pod's own psql (tuples only, unaligned)."""
        return self.kubectl(
            "exec",
            f"statefulset/{self.component('postgres')}",
            "--",
            "psql",
            "-U",
            "kubesaga",
            "-d",
            database,
            "-tA",
            "-c",
            query,
        ).strip()

    def upgrade(self, *sets: str) -> None:
        self.helm(
            "upgrade",
            self.name,
            str(CHART),
            "-f",
            str(LOCAL_VALUES),
            "--reuse-values",
            *[arg for value in sets for arg in ("--set", value)],
            "--wait",
            "--timeout",
            "5m",
        )


def import_images() -> None:
    """`make test` built the archives (`make images`); the node gets them now that it runs
    (an image it already holds at the same digest is skipped)."""
    subprocess.run(
        [sys.executable, "-m", "infra.images", "import"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )


async def place(
    release: Release, port: int, *, sku: str = "SKU-1", card: str = "pm_card_visa"
) -> str:
    """POST /orders through a port-forward to the orders Service; returns the order's id."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        response = await http.post(
            "/orders",
            json={
                "customerId": "c-deploy",
                "currency": "EUR",
                "paymentMethod": card,
                "items": [{"sku": sku, "quantity": 1}],
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def settled(release: Release, order_id: str, timeout: float = 120) -> dict[str, Any]:
    """The Order once it is Completed, Cancelled or Failed."""

    async def probe() -> dict[str, Any] | None:
        try:
            order: dict[str, Any] = await asyncio.to_thread(release.json, "get", "order", order_id)
        except RuntimeError:
            return None  # the bridge has not created it yet
        phase = order.get("status", {}).get("phase")
        return order if phase in ("Completed", "Cancelled", "Failed") else None

    return await eventually(probe, timeout=timeout, what=f"order {order_id} to settle")


@pytest.fixture(scope="package")
def release(platform: Endpoints) -> Iterator[Release]:
    """The chart installed once for tests/deployment, and uninstalled when they are done:
    its pods (Kafka, Postgres, the services) would otherwise share the node's two cores with
    every later test, the chaos profile's timings among them."""
    deployed = Release(platform.kubeconfig, f"deploy-{uuid.uuid4().hex[:8]}")
    import_images()
    try:
        deployed.helm(
            "install",
            RELEASE,
            str(CHART),
            "--create-namespace",
            "-f",
            str(LOCAL_VALUES),
            "--set",
            f"image.tag={kubesaga_tag(PlatformSettings())}",
            "--wait",
            "--timeout",
            "6m",
        )
    except RuntimeError as e:
        pods = kubectl(platform.kubeconfig, "-n", deployed.namespace, "get", "pods", "-o", "wide")
        raise AssertionError(f"{e}\npods:\n{pods}") from e
    yield deployed
    helm(
        "uninstall",
        RELEASE,
        "-n",
        deployed.namespace,
        "--wait",
        kubeconfig=platform.kubeconfig,
        check=False,
    )
    kubectl(platform.kubeconfig, "delete", "namespace", deployed.namespace, "--wait=false")
