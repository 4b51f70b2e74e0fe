"""One saga stack on the real platform: fresh databases, the three services, the operator.

``saga_stack`` builds it and tears it down; the end-to-end tests' session fixture
(tests/e2e/conftest.py) and the chaos harness (tests/bench/chaos) both use it, so what the
tests check is what the chaos run breaks.

Everything is fresh per stack: databases, the namespace the Orders live in, the Kafka topics
(``KAFKA__TOPIC_PREFIX``: a demo or another run on the same platform neither sees these
orders nor feeds this one) and the consumer groups. Each service is a process of its own
(``ServiceProcess``: it can be killed and started again on its port); the operator reaches
each one through a ``Gate``, so the network between them can fail while orders still prices
from inventory directly. Deadlines and peering come from ``StackOptions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from services.inventory.domain.stock import Product
from services.payments.migrations import SCRIPT_LOCATION as PAYMENTS_MIGRATIONS
from services.payments.settings import DEVELOPMENT_WEBHOOK_SECRET
from services.runtime import migrations
from tests.e2e.harness import Gate, OperatorProcess, TraceCollector
from tests.integration.orders import stack as service_stack
from tests.processes import ServiceProcess, free_port
from tests.support import install_crds

SERVICES = ("orders", "inventory", "payments")


@dataclass(frozen=True)
class StackOptions:
    name: str = "e2e"  # the namespace's and databases' prefix, and the peering's name
    catalog: Sequence[Product] = ()  # inventory's products; empty: its demo catalog
    payment_deadline_seconds: int = 30
    inventory_deadline_seconds: int = 60
    # How long a killed replica's peering record counts; None: the operator's own default.
    peering_lifetime_seconds: int | None = 10
    operator_env: Mapping[str, str] = field(default_factory=dict)  # SAGA_* overrides


@dataclass
class Stack:
    namespace: str
    services: dict[str, ServiceProcess]  # by name: orders, inventory, payments
    gates: dict[str, Gate]  # the operator's route to each service
    operator: OperatorProcess
    traces: TraceCollector
    databases: dict[str, str]  # service -> asyncpg DSN
    metrics_url: str
    topic_prefix: str  # every topic of this stack starts with it, dead-letter topics too
    webhook_secret: str  # payments verifies Stripe-Signature with it

    @property
    def orders_url(self) -> str:
        return self.services["orders"].url

    @property
    def inventory_url(self) -> str:
        return self.services["inventory"].url

    @property
    def payments_url(self) -> str:
        return self.services["payments"].url

    @property
    def inventory_gate(self) -> Gate:
        return self.gates["inventory"]

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

    def save_logs(self, folder: Path) -> Path:
        """Copy the processes' logs (temporary files, gone with the stack) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        logs = {name: service.log_path for name, service in self.services.items()}
        for name, path in {**logs, "saga-operator": self.operator.log_path}.items():
            shutil.copyfile(path, folder / f"{name}.log")
        return folder

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.databases[service])
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def saga_stack(
    platform: Endpoints, kube: client.ApiClient, options: StackOptions
) -> AsyncIterator[Stack]:
    """The stack, up and ready (the operator's bridge reads Kafka); gone again on exit."""
    install_crds(platform.kubeconfig)
    namespace = f"{options.name}-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    traces = TraceCollector()
    telemetry = {"OTEL_BSP_SCHEDULE_DELAY": "200"}
    # Torn down in reverse, each step even if an earlier one failed (a platform part that a
    # chaos run broke): the namespace goes last, after the Orders' finalizers.
    async with contextlib.AsyncExitStack() as resources:
        await core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        )
        resources.push_async_callback(core.delete_namespace, namespace)
        resources.callback(traces.stop)
        database_prefix = options.name.replace("-", "_")
        inventory_db = await resources.enter_async_context(
            service_stack.inventory_database(platform.postgres_dsn, options.catalog or None)
        )
        orders_db = await resources.enter_async_context(
            service_stack.fresh_database(platform.postgres_dsn, f"{database_prefix}_orders")
        )
        payments_db = await resources.enter_async_context(
            service_stack.fresh_database(platform.postgres_dsn, f"{database_prefix}_payments")
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

        inventory = ServiceProcess(
            "services.inventory",
            [],
            env("INVENTORY", DB__URL=inventory_db, SERVICE_NAME="inventory"),
        )
        payments = ServiceProcess(
            "services.payments",
            [],
            env(
                "PAYMENTS",
                DB__URL=payments_db,
                PROVIDER="simulated",
                SERVICE_NAME="payments",
                STRIPE__WEBHOOK_SECRET=DEVELOPMENT_WEBHOOK_SECRET,
            ),
        )
        orders = ServiceProcess(
            "services.orders",
            [],
            env(
                "ORDERS",
                DB__URL=orders_db,
                CATALOG__BASE_URL=inventory.url,
                SERVICE_NAME="orders",
                CONSUMER_GROUP=f"orders-{namespace}",
            ),
        )
        services = {"orders": orders, "inventory": inventory, "payments": payments}
        for service in services.values():
            resources.callback(service.close)
        # Orders asks inventory only when an order is placed: the three start at once.
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in services.values()))
        gates = {name: Gate("127.0.0.1", services[name].port) for name in SERVICES}
        for gate in gates.values():
            await gate.open()
            resources.push_async_callback(gate.close)
        metrics_port = free_port()
        peering = (
            {}
            if options.peering_lifetime_seconds is None
            else {"SAGA_PEERING_LIFETIME_SECONDS": str(options.peering_lifetime_seconds)}
        )
        operator = OperatorProcess(
            {
                **telemetry,
                "KUBECONFIG": platform.kubeconfig,
                "SAGA_NAMESPACE": namespace,
                "SAGA_SERVICES__ORDERS": gates["orders"].url,
                "SAGA_SERVICES__INVENTORY": gates["inventory"].url,
                "SAGA_SERVICES__PAYMENTS": gates["payments"].url,
                "SAGA_KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
                "SAGA_KAFKA__TOPIC_PREFIX": topic_prefix,
                "SAGA_BRIDGE_GROUP": f"saga-bridge-{namespace}",
                "SAGA_DEADLINES__PAYMENT_SECONDS": str(options.payment_deadline_seconds),
                "SAGA_DEADLINES__INVENTORY_SECONDS": str(options.inventory_deadline_seconds),
                "SAGA_RETRY__MAX_ATTEMPTS": "200",
                "SAGA_RETRY__BACKOFF_INITIAL": "PT0.2S",
                "SAGA_RETRY__BACKOFF_MAX": "PT1S",
                "SAGA_METRICS_PORT": str(metrics_port),
                "SAGA_TELEMETRY__OTLP_ENDPOINT": traces.url,
                **peering,
                **options.operator_env,
            },
            ["--peering", options.name],
        )
        resources.callback(operator.close)
        # Finished Orders would wait for their TTL: the namespace goes with them. The
        # finalizers are the stopped operator's, so they are removed first.
        resources.push_async_callback(_remove_finalizers, kube, namespace)
        resources.callback(operator.stop)
        await asyncio.to_thread(operator.start)
        yield Stack(
            namespace=namespace,
            services=services,
            gates=gates,
            operator=operator,
            traces=traces,
            databases={
                "orders": _asyncpg_dsn(orders_db),
                "inventory": _asyncpg_dsn(inventory_db),
                "payments": _asyncpg_dsn(payments_db),
            },
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
            topic_prefix=topic_prefix,
            webhook_secret=DEVELOPMENT_WEBHOOK_SECRET,
        )


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    """This stack's topics (and their dead-letter topics) go with it."""
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
    names = [item["metadata"]["name"] for item in listed["items"]]
    for start in range(0, len(names), 20):  # a chaos run leaves a thousand: 20 at a time
        await asyncio.gather(
            *(
                custom.patch_namespaced_custom_object(  # type: ignore[call-arg]
                    "kubesaga.io",
                    "v1alpha1",
                    namespace,
                    "orders",
                    name,
                    {"metadata": {"finalizers": None}},
                    _content_type="application/merge-patch+json",
                )
                for name in names[start : start + 20]
            )
        )
