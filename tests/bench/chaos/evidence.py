"""Reads what a run left behind into ``invariants.Evidence``: databases, Orders, dead letters.

Called once every saga settled (or the wait gave up). The databases are the stack's own,
fresh for the run, so every row in them is the run's; the Orders come from the observer
(which also knows the deleted ones and how long each was Terminating) after one last list;
dead letters are every record of the stack's ``<topic>.dlq.<group>`` topics, read from the
start with no consumer group (nothing is committed, nothing changes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from services.inventory.domain.stock import Product
from tests.bench.chaos.invariants import (
    DeadLetter,
    Evidence,
    FaultOutcome,
    OrderRow,
    OrderView,
    StockRow,
)
from tests.bench.chaos.observer import OrderObserver, Sighting
from tests.e2e.stack import Stack


async def collect(
    stack: Stack,
    *,
    kafka: str,
    observer: OrderObserver,
    catalog: Sequence[Product],
    lowest_available: Mapping[str, int],
    forged: frozenset[str],
    faults: Sequence[FaultOutcome],
) -> Evidence:
    await observer.refresh()
    orders, payments, reservations, stock = await asyncio.gather(
        _orders(stack), _payments(stack), _reservations(stack), _stock(stack)
    )
    stocked = {product.sku: product.available for product in catalog}
    now = time.time()
    return Evidence(
        orders=orders,
        resources={name: _view(s, now) for name, s in observer.seen.items()},
        forged=forged,
        payments=payments,
        reservations=reservations,
        stock={
            sku: StockRow(
                available=row[0],
                reserved=row[1],
                committed=row[2],
                stocked=stocked.get(sku, 0),
                lowest_available=lowest_available.get(sku, row[0]),
            )
            for sku, row in stock.items()
        },
        dead_letters=await dead_letters(kafka, stack.topic_prefix),
        faults=faults,
    )


def _view(sighting: Sighting, now: float) -> OrderView:
    status = sighting.body.get("status") or {}
    terminating = 0.0
    if sighting.deletion_at is not None:
        terminating = (sighting.gone_at or now) - sighting.deletion_at
    return OrderView(
        phase=str(status.get("phase") or ""),
        reason=str(status.get("reason") or ""),
        gone=sighting.gone_at is not None,
        terminating_for=terminating,
    )


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


async def _orders(stack: Stack) -> dict[str, OrderRow]:
    dsn = stack.databases["orders"]
    rows = await _fetch(dsn, "SELECT id, phase, reason FROM orders")
    lines = await _fetch(dsn, "SELECT order_id, sku, quantity FROM order_items ORDER BY line_no")
    items: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in lines:
        items[str(line["order_id"])].append((line["sku"], int(line["quantity"])))
    return {
        str(row["id"]): OrderRow(
            phase=row["phase"], reason=row["reason"], items=tuple(items[str(row["id"])])
        )
        for row in rows
    }


async def _payments(stack: Stack) -> dict[str, tuple[str, ...]]:
    rows = await _fetch(stack.databases["payments"], "SELECT order_id, status FROM payments")
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        found[str(row["order_id"])].append(row["status"])
    return {order_id: tuple(statuses) for order_id, statuses in found.items()}


async def _reservations(stack: Stack) -> dict[str, str]:
    rows = await _fetch(stack.databases["inventory"], "SELECT order_id, status FROM reservations")
    return {str(row["order_id"]): row["status"] for row in rows}


async def _stock(stack: Stack) -> dict[str, tuple[int, int, int]]:
    rows = await _fetch(
        stack.databases["inventory"], "SELECT sku, available, reserved, committed FROM products"
    )
    return {row["sku"]: (row["available"], row["reserved"], row["committed"]) for row in rows}


async def sample_available(pool: asyncpg.Pool, lowest: dict[str, int]) -> None:
    """One sample of every SKU's available stock, folded into ``lowest``."""
    rows = await pool.fetch("SELECT sku, available FROM products")
    for row in rows:
        lowest[row["sku"]] = min(lowest.get(row["sku"], row["available"]), row["available"])


async def dead_letters(kafka: str, prefix: str) -> list[DeadLetter]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix) and ".dlq." in t]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + 30
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            if time.monotonic() > deadline:
                found.append(DeadLetter(",".join(topics), "?", "?", "unread", "read timed out"))
                break
            batches = await consumer.getmany(*partitions, timeout_ms=1000)
            for records in batches.values():
                found += [_letter(record.topic, record.value, record.headers) for record in records]
        return found
    finally:
        await consumer.stop()


def _letter(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> DeadLetter:
    meta = {key: raw.decode(errors="replace") for key, raw in headers or ()}
    try:
        event = json.loads(value or b"{}")
    except ValueError:
        event = {}
    payload = event.get("payload") if isinstance(event, dict) else None
    order_id = (payload or {}).get("orderId") if isinstance(payload, dict) else None
    return DeadLetter(
        topic=topic,
        order_id=str(order_id or (event.get("aggregateId") if isinstance(event, dict) else "?")),
        event_type=meta.get("type") or str(event.get("type", "?")),
        reason=meta.get("dlq.reason", "?"),
        error=meta.get("dlq.error", ""),
    )
