"""One saga stack for the end-to-end tests: real services, the operator, a namespace.

Everything is fresh per session: databases, the namespace the Orders live in, the Kafka
topics (``KAFKA__TOPIC_PREFIX``: a demo or another run on the same platform neither sees
these orders nor feeds this one) and the consumer groups. The operator runs with short
deadlines (inventory 60 s; payment 15 s, which the 3-D Secure deadline test waits out), with
peering whose records expire 10 s after a replica dies (kopf's: 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from services.inventory.domain.stock import Price, Product
from services.payments.migrations import SCRIPT_LOCATION as PAYMENTS_MIGRATIONS
from services.runtime import migrations
from tests.e2e.harness import Gate, OperatorProcess, TraceCollector
from tests.integration.orders import stack as service_stack
from tests.processes import free_port, service_process
from tests.support import install_crds

PAYMENT_DEADLINE_SECONDS = 15
INVENTORY_DEADLINE_SECONDS = 60
RUSH_STOCK = 60  # the 100-order test's scarce product

CATALOG = [
    Product("E2E-BEANS", "Beans", Price(1999, "EUR"), 100_000),
    Product("E2E-MUG", "Mug", Price(899, "EUR"), 100_000),
    Product("E2E-GONE", "Sold out", Price(4999, "EUR"), 0),
    Product("E2E-RUSH", "Limited drop", Price(2500, "EUR"), RUSH_STOCK),
]


@dataclass
class Stack:
    namespace: str
    orders_url: str
    inventory_url: str
    payments_url: str
    inventory_gate: Gate
    operator: OperatorProcess
    traces: TraceCollector
    databases: dict[str, str]  # service -> asyncpg DSN
    metrics_url: str

    async def order(self, kube: client.ApiClient, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await client.CustomObjectsApi(
                kube
            ).get_namespaced_custom_object(
                "kubesaga.io", "v1alpha1", self.namespace, "orders", name
            )
        except client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise
        return found

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.databases[service])
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest_asyncio.fixture(scope="session")
async def stack(platform: Endpoints, kube: client.ApiClient) -> AsyncIterator[Stack]:
    install_crds(platform.kubeconfig)
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    traces = TraceCollector()
    telemetry = {"OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with contextlib.AsyncExitStack() as resources:
        inventory_db = await resources.enter_async_context(
            service_stack.inventory_database(platform.postgres_dsn, CATALOG)
        )
        orders_db = await resources.enter_async_context(
            service_stack.fresh_database(platform.postgres_dsn, "e2e_orders")
        )
        payments_db = await resources.enter_async_context(
            service_stack.fresh_database(platform.postgres_dsn, "e2e_payments")
        )
        await service_stack.migrate_orders(orders_db)
        await migrations.upgrade(PAYMENTS_MIGRATIONS, payments_db)
        topic_prefix = f"{namespace}."
        resources.push_async_callback(_delete_topics, platform.kafka_bootstrap, topic_prefix)
        common = {
            "KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
            "KAFKA__TOPIC_PREFIX": topic_prefix,
            "REDIS__URL": platform.redis_url,
            "TELEMETRY__OTLP_ENDPOINT": traces.url,
        }

        def env(prefix: str, **extra: str) -> dict[str, str]:
            own = {f"{prefix}_{k}": v for k, v in {**common, **extra}.items()}
            return {**telemetry, **own}

        inventory_url = resources.enter_context(
            service_process(
                "services.inventory",
                [],
                env("INVENTORY", DB__URL=inventory_db, SERVICE_NAME="inventory"),
            )
        )
        payments_url = resources.enter_context(
            service_process(
                "services.payments",
                [],
                env("PAYMENTS", DB__URL=payments_db, PROVIDER="simulated", SERVICE_NAME="payments"),
            )
        )
        orders_url = resources.enter_context(
            service_process(
                "services.orders",
                [],
                env(
                    "ORDERS",
                    DB__URL=orders_db,
                    CATALOG__BASE_URL=inventory_url,
                    SERVICE_NAME="orders",
                    CONSUMER_GROUP=f"orders-{namespace}",
                ),
            )
        )
        gate = Gate("127.0.0.1", int(inventory_url.rsplit(":", 1)[1]))
        await gate.open()
        resources.push_async_callback(gate.close)
        metrics_port = free_port()
        operator = OperatorProcess(
            {
                **telemetry,
                "KUBECONFIG": platform.kubeconfig,
                "SAGA_NAMESPACE": namespace,
                "SAGA_SERVICES__ORDERS": orders_url,
                "SAGA_SERVICES__INVENTORY": gate.url,
                "SAGA_SERVICES__PAYMENTS": payments_url,
                "SAGA_KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
                "SAGA_KAFKA__TOPIC_PREFIX": topic_prefix,
                "SAGA_BRIDGE_GROUP": f"saga-bridge-{namespace}",
                "SAGA_DEADLINES__PAYMENT_SECONDS": str(PAYMENT_DEADLINE_SECONDS),
                "SAGA_DEADLINES__INVENTORY_SECONDS": str(INVENTORY_DEADLINE_SECONDS),
                "SAGA_RETRY__MAX_ATTEMPTS": "200",
                "SAGA_PEERING_LIFETIME_SECONDS": "10",
                "SAGA_RETRY__BACKOFF_INITIAL": "PT0.2S",
                "SAGA_RETRY__BACKOFF_MAX": "PT1S",
                "SAGA_METRICS_PORT": str(metrics_port),
                "SAGA_TELEMETRY__OTLP_ENDPOINT": traces.url,
            },
            ["--peering", "e2e"],
        )
        resources.callback(operator.close)
        resources.callback(traces.stop)
        operator.start()
        yield Stack(
            namespace=namespace,
            orders_url=orders_url,
            inventory_url=inventory_url,
            payments_url=payments_url,
            inventory_gate=gate,
            operator=operator,
            traces=traces,
            databases={
                "orders": _asyncpg_dsn(orders_db),
                "inventory": _asyncpg_dsn(inventory_db),
                "payments": _asyncpg_dsn(payments_db),
            },
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        )
        operator.stop()
        # Finished Orders would wait for their TTL: delete the namespace with them. The
        # finalizers are the stopped operator's, so remove them first.
        await _remove_finalizers(kube, namespace)
    await core.delete_namespace(namespace)


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    """This session's topics (and their dead-letter topics) go with it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ours = [topic for topic in await admin.list_topics() if topic.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


async def _remove_finalizers(kube: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(kube)
    listed = await custom.list_namespaced_custom_object(
        "kubesaga.io", "v1alpha1", namespace, "orders"
    )
    for item in listed["items"]:
        await custom.patch_namespaced_custom_object(  # type: ignore[call-arg]
            "kubesaga.io",
            "v1alpha1",
            namespace,
            "orders",
            item["metadata"]["name"],
            {"metadata": {"finalizers": None}},
            _content_type="application/merge-patch+json",
        )


async def metric(stack: Stack, name: str) -> float:
    """The sum of a metric's samples on the operator's /metrics."""
    return await metric_at(stack.metrics_url, name)


async def metric_at(url: str, name: str) -> float:
    """The sum of a metric's samples on a /metrics endpoint."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def metric_settles_at(url: str, name: str, expected: float, *, timeout: float = 10) -> float:
    """The metric once it reaches `expected`, or its last value after `timeout`.

    The operator counts a settled saga after its status patch returns, so a test that has
    just seen the status can read the counter a moment before it moves.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await metric_at(url, name)
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)
