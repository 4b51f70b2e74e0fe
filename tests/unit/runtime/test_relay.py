"""The pure parts of the outbox relay: the headers it sends and which claimed rows may go now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka.errors import UnknownTopicOrPartitionError

from services.runtime.events import Event, OrderCompleted
from services.runtime.relay import OutboxRecord, describe_error, message_headers, publishable

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def record(
    id: int = 1,
    key: str = "order-1",
    *,
    headers: dict[str, str] | None = None,
    value: bytes | None = None,
) -> OutboxRecord:
    event = Event.of(OrderCompleted(order_id=uuid.uuid4()), correlation_id="corr-from-envelope")
    return OutboxRecord(
        id=id,
        event_id=event.id,
        topic="kubesaga.orders",
        key=key,
        event_type=event.type,
        value=event.encode() if value is None else value,
        headers=headers or {},
        created_at=datetime.now(UTC),
        attempts=0,
    )


def test_headers_carry_id_type_correlation_and_the_stored_trace_context() -> None:
    row = record(headers={"traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    assert message_headers(row) == {
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "correlationId": "corr-from-envelope",
        "id": str(row.event_id),
        "type": "order.completed",
    }


def test_the_row_columns_win_over_stored_id_and_type_and_a_stored_correlation_id_wins() -> None:
    row = record(headers={"id": "forged", "type": "forged", "correlationId": "corr-stored"})
    headers = message_headers(row)
    assert (headers["id"], headers["type"]) == (str(row.event_id), "order.completed")
    assert headers["correlationId"] == "corr-stored"


def test_a_value_that_is_not_an_envelope_gets_no_correlation_id() -> None:
    for value in (b"not json", b"[1, 2]", b'{"correlationId": 7}'):
        assert "correlationId" not in message_headers(record(value=value))


def test_claimed_rows_form_one_chain_per_key_in_id_order() -> None:
    rows = [record(5, "b"), record(1, "a"), record(3, "a"), record(2, "b"), record(4, "c")]
    chains = publishable(rows, {})
    assert [[r.id for r in chain] for chain in chains] == [[1, 3], [2, 5], [4]]


def test_rows_behind_an_unpublished_row_claimed_elsewhere_wait() -> None:
    rows = [record(1, "a"), record(4, "a"), record(6, "a"), record(2, "b")]
    # Row 3 of key "a" is unpublished and held by another relay; row 9 of "b" comes later.
    chains = publishable(rows, {"a": 3, "b": 9})
    assert [[r.id for r in chain] for chain in chains] == [[1], [2]]


def test_errors_are_described_by_type_and_message_even_when_the_message_is_empty() -> None:
    assert describe_error(ConnectionError("refused")) == "ConnectionError: refused"
    assert describe_error(TimeoutError()) == "TimeoutError: TimeoutError()"
    assert describe_error(UnknownTopicOrPartitionError()).startswith("UnknownTopicOrPartitionError")
    assert len(describe_error(ValueError("x" * 10_000))) == 2000
