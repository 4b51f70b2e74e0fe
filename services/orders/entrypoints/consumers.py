"""The ``orders`` consumer group: inventory and payments events onto each order's timeline.

``serve`` runs one next to the API (bootstrap builds it); every replica joins the same group,
so Kafka splits the partitions between them. The runtime's ``InboxConsumer`` gives each event
exactly one effect (inbox row in the handler's transaction) and dead-letters what cannot be
applied; the effect itself is ``handlers.record_saga_event``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.service_layer import handlers
from services.orders.settings import OrdersSettings
from services.runtime import events as contracts
from services.runtime.consumer import InboxConsumer
from services.runtime.kafka import Publisher

SAGA_TOPICS = (contracts.INVENTORY_TOPIC, contracts.PAYMENTS_TOPIC)


def saga_event_consumer(
    *,
    settings: OrdersSettings,
    unit_of_work: Callable[[], OrdersUnitOfWork],
    producer: Publisher,
    topics: Sequence[str] = SAGA_TOPICS,
    group: str | None = None,
) -> InboxConsumer[OrdersUnitOfWork]:
    return InboxConsumer(
        topics=topics,
        group=group or settings.consumer_group,
        handler=handlers.record_saga_event,
        unit_of_work=unit_of_work,
        producer=producer,
        kafka=settings.kafka,
        settings=settings.consumer,
    )
