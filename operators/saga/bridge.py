"""Kafka into Kubernetes: ``order.created`` becomes an Order; late results become signals.

The bridge is a consumer group (``saga-bridge``) on the three topics, run by every operator
replica, so it scales with them. It keeps no inbox table: its effects are idempotent by
themselves (the Order is named by the order id and AlreadyExists is success; a signal is the
latest fact of its kind), so a redelivered event changes nothing. Everything else the shared
``InboxConsumer`` gives: the offset is committed after the Kubernetes write, transient
failures are retried with backoff, and an event that can never apply is dead-lettered.

The Order carries the trace (``kubesaga.io/traceparent``, the bridge's consumer span, a child
of ``POST /orders``), so the reconciler's step spans join the order's one trace.
"""

from __future__ import annotations

import hashlib
import logging
from types import TracebackType
from typing import Any, Self

from kubernetes_asyncio.client.exceptions import ApiException
from opentelemetry import propagate

from operators.saga import signals
from operators.saga.clients import GROUP, VERSION, Orders
from operators.saga.metrics import BRIDGE_EVENTS
from operators.saga.settings import SagaSettings
from services.runtime import events
from services.runtime.consumer import InboxConsumer, PermanentEventError, is_outage
from services.runtime.events import Event
from services.runtime.kafka import Publisher

logger = logging.getLogger(__name__)

SHARD_LABEL = "kubesaga.io/shard"
TRACEPARENT_ANNOTATION = "kubesaga.io/traceparent"
TRACESTATE_ANNOTATION = "kubesaga.io/tracestate"
CORRELATION_ANNOTATION = "kubesaga.io/correlation-id"
SOURCE_EVENT_ANNOTATION = "kubesaga.io/source-event"
TOPICS = (events.ORDERS_TOPIC, events.INVENTORY_TOPIC, events.PAYMENTS_TOPIC)


def shard_of(order_id: str, count: int) -> int:
    """A stable shard for the order: the same in every process and release (not ``hash()``)."""
    digest = hashlib.sha256(order_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def order_resource(
    event: Event, created: events.OrderCreated, *, settings: SagaSettings, trace: dict[str, str]
) -> dict[str, Any]:
    """The Order for an ``order.created`` event, with the operator's default deadlines."""
    order_id = str(created.order_id)
    annotations = {
        CORRELATION_ANNOTATION: event.correlation_id or order_id,
        SOURCE_EVENT_ANNOTATION: str(event.id),
    }
    if "traceparent" in trace:
        annotations[TRACEPARENT_ANNOTATION] = trace["traceparent"]
    if trace.get("tracestate"):
        annotations[TRACESTATE_ANNOTATION] = trace["tracestate"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Order",
        "metadata": {
            "name": order_id,
            "labels": {
                SHARD_LABEL: str(shard_of(order_id, settings.shards.count)),
                "app.kubernetes.io/managed-by": "kubesaga-saga-operator",
            },
            "annotations": annotations,
        },
        "spec": {
            "orderId": order_id,
            "customerId": created.customer_id,
            "items": [
                {"sku": line.sku, "quantity": line.quantity, "unitPrice": line.unit_price}
                for line in created.items
            ],
            "amount": {"value": created.amount.value, "currency": created.amount.currency},
            "paymentMethod": created.payment_method,
            "deadlines": {
                "inventorySeconds": settings.deadlines.inventory_seconds,
                "paymentSeconds": settings.deadlines.payment_seconds,
            },
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
        },
    }


def api_outage(error: BaseException) -> bool:
    """The Kubernetes API restarting (5xx, 429, a refused connection) is an outage: the event
    waits for it instead of using up its attempts and being dead-lettered, which would leave
    a placed order without its Order."""
    if isinstance(error, ApiException) and ((error.status or 0) >= 500 or error.status == 429):
        return True
    return is_outage(error)


class NoInbox:
    """The unit of work for a consumer whose effects are idempotent by themselves."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def mark_processed(self, consumer_group: str, event: Event) -> bool:
        return True

    async def commit(self) -> None:
        return None


class Bridge:
    def __init__(self, orders: Orders, settings: SagaSettings) -> None:
        self._orders = orders
        self._settings = settings

    def consumer(self, producer: Publisher) -> InboxConsumer[NoInbox]:
        return InboxConsumer(
            topics=TOPICS,
            group=self._settings.bridge_group,
            handler=self.handle,
            unit_of_work=NoInbox,
            producer=producer,
            kafka=self._settings.kafka,
            settings=self._settings.consumer,
            outage=api_outage,
        )

    async def handle(self, event: Event, _: NoInbox) -> None:
        payload = event.payload
        if isinstance(payload, events.OrderCreated):
            await self._create(event, payload)
            return
        found = signals.signal_for(event)
        if found is None:
            BRIDGE_EVENTS.labels(event.type, "ignored").inc()
            return
        kind, signal = found
        name = str(payload.order_id)
        try:
            patched = await self._orders.patch_status(name, {"signals": {kind: signal}})
        except ApiException as e:
            raise _classify(e, event) from e
        effect = "signalled" if patched else "order_gone"
        BRIDGE_EVENTS.labels(event.type, effect).inc()
        logger.info(
            "%s for order %s: %s",
            event.type,
            name,
            effect,
            extra={"orderId": name, "eventId": str(event.id)},
        )

    async def _create(self, event: Event, created: events.OrderCreated) -> None:
        trace: dict[str, str] = {}
        propagate.inject(trace)  # the consumer span, child of the producer's trace
        body = order_resource(event, created, settings=self._settings, trace=trace)
        try:
            made = await self._orders.create(body)
        except ApiException as e:
            raise _classify(e, event) from e
        BRIDGE_EVENTS.labels(event.type, "created" if made else "exists").inc()
        logger.info(
            "Order %s %s",
            created.order_id,
            "created" if made else "exists already",
            extra={"orderId": str(created.order_id), "eventId": str(event.id)},
        )


def _classify(error: ApiException, event: Event) -> Exception:
    """422 (the API server refuses the Order) can never succeed: dead-letter it with the
    server's message; anything else (5xx, 429, a broken connection) is retried."""
    if error.status in (400, 422):
        text = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
        return PermanentEventError(f"the API server refused {event.type}: {text}")
    return RuntimeError(f"Kubernetes answered {error.status} to {event.type}: {error.reason}")
