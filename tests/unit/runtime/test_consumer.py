"""What a dead letter says about the record it carries."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from services.runtime.consumer import PermanentEventError, dead_letter_headers


def test_dead_letter_headers_keep_the_originals_and_add_why_and_where_from() -> None:
    original = [("id", b"e-1"), ("type", b"order.created"), ("traceparent", b"00-abc")]
    record = ConsumerRecord(
        topic="kubesaga.orders",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"order-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=7,
        serialized_value_size=2,
        headers=original,
    )
    headers = dead_letter_headers(
        record, reason="permanent", error=PermanentEventError("no such order"), attempts=1
    )
    assert headers[: len(original)] == original
    assert dict(headers[len(original) :]) == {
        "dlq.error": b"PermanentEventError: no such order",
        "dlq.reason": b"permanent",
        "dlq.original-topic": b"kubesaga.orders",
        "dlq.original-partition": b"2",
        "dlq.original-offset": b"41",
        "dlq.attempts": b"1",
    }
