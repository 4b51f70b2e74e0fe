"""Webhook verification and reading: only a fresh, correctly signed Stripe event gets through."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest

from services.payments.adapters import stripe_webhooks
from services.payments.domain import errors, notices
from tests.unit.payments.stripe_signing import SECRET, intent_event, signature

TOLERANCE = timedelta(seconds=300)


def verify(body: bytes, header: str | None) -> dict[str, object]:
    return stripe_webhooks.verify(body, header, secret=SECRET, tolerance=TOLERANCE)


BODY = intent_event("payment_intent.succeeded", intent_id="pi_1", order_id=uuid.uuid4())


def test_a_fresh_correct_signature_verifies() -> None:
    event = verify(BODY, signature(BODY))
    assert event["type"] == "payment_intent.succeeded"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("", "missing"),
        (signature(BODY, secret="whsec_someone_else"), "does not verify"),
        (signature(BODY, at=time.time() - 301), "does not verify"),  # stale
        (signature(BODY + b" "), "does not verify"),  # the body was changed
        ("t=abc,v1=00", "does not verify"),
        ("v1=" + "0" * 64, "does not verify"),
        (signature(BODY).replace("v1=", "v0="), "does not verify"),
    ],
)
def test_everything_else_is_refused(header: str | None, why: str) -> None:
    with pytest.raises(errors.InvalidWebhook, match=why):
        verify(BODY, header)


def test_a_signature_just_inside_the_tolerance_verifies() -> None:
    assert verify(BODY, signature(BODY, at=time.time() - 290))


@pytest.mark.parametrize(
    ("body", "why"), [(b"\xff\xfe", "UTF-8"), (b"{nope", "JSON"), (b"[]", "event")]
)
def test_a_signed_body_must_still_be_an_event(body: bytes, why: str) -> None:
    with pytest.raises(errors.InvalidWebhook, match=why):
        verify(body, signature(body))


def test_intent_events_become_notices() -> None:
    order_id = uuid.uuid4()
    body = intent_event(
        "payment_intent.payment_failed",
        intent_id="pi_7",
        order_id=order_id,
        event_id="evt_1",
        last_error={"code": "card_declined", "decline_code": "insufficient_funds", "message": "no"},
    )
    notice = stripe_webhooks.notice_of(json.loads(body))
    assert notice == notices.Notice(
        event_id="evt_1",
        event_type="payment_intent.payment_failed",
        verdict=notices.Verdict.FAILED,
        reference="pi_7",
        order_id=order_id,
        decline_code="insufficient_funds",
        message="no",
    )


@pytest.mark.parametrize(
    ("event_type", "verdict"),
    [
        ("payment_intent.succeeded", notices.Verdict.SUCCEEDED),
        ("payment_intent.canceled", notices.Verdict.CANCELED),
        ("payment_intent.created", None),
        ("charge.refunded", None),
    ],
)
def test_only_outcome_events_matter(event_type: str, verdict: notices.Verdict | None) -> None:
    notice = stripe_webhooks.notice_of(json.loads(intent_event(event_type, intent_id="pi_2")))
    assert (notice.verdict if notice else None) == verdict


@pytest.mark.parametrize("order_id", [None, "not-a-uuid", "", 42])
def test_an_intent_without_a_valid_order_id_is_found_by_reference(order_id: object) -> None:
    event = json.loads(intent_event("payment_intent.succeeded", intent_id="pi_3"))
    event["data"]["object"]["metadata"] = {"orderId": order_id}
    notice = stripe_webhooks.notice_of(event)
    assert notice is not None and (notice.order_id, notice.reference) == (None, "pi_3")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "payment_intent.succeeded"},
        {"id": "evt_1"},
        {"id": "", "type": "payment_intent.succeeded"},
        {"id": "evt_1", "type": "payment_intent.succeeded"},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": []},
    ],
)
def test_a_malformed_event_is_refused(event: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidWebhook):
        stripe_webhooks.notice_of(event)
