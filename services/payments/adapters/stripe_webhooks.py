"""Stripe webhook requests → verified ``Notice``s, or ``InvalidWebhook`` for anything else.

``POST /payments/webhook`` hands us the raw body and the ``Stripe-Signature`` header. The
signature is checked by the SDK (``stripe.WebhookSignature.verify_header``: HMAC-SHA256 of
``"<t>.<body>"`` with the endpoint's secret, compared in constant time, and ``t`` within the
tolerance), before the body is even parsed. Only then is the event read, as plain JSON rather
than an SDK object: we need five fields and want a precise error for a malformed one.

Events about a PaymentIntent's outcome become a ``Notice``; other types are None (the
endpoint acknowledges them, so Stripe stops resending).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import stripe

from services.payments.domain import errors, notices

VERDICTS = {
    "payment_intent.succeeded": notices.Verdict.SUCCEEDED,
    "payment_intent.payment_failed": notices.Verdict.FAILED,
    "payment_intent.canceled": notices.Verdict.CANCELED,
}


def verify(
    payload: bytes, signature: str | None, *, secret: str, tolerance: timedelta
) -> dict[str, Any]:
    """The event, if ``signature`` proves it came from Stripe recently; else ``InvalidWebhook``."""
    if not signature:
        raise errors.InvalidWebhook("the Stripe-Signature header is missing")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=int(tolerance.total_seconds())
        )
    except stripe.SignatureVerificationError as e:
        raise errors.InvalidWebhook(f"the Stripe-Signature does not verify: {e}") from e
    except UnicodeDecodeError as e:  # the SDK decodes the body before computing the HMAC
        raise errors.InvalidWebhook("the body is not UTF-8") from e
    try:
        event = json.loads(payload)
    except ValueError as e:
        raise errors.InvalidWebhook(f"the body is not JSON: {e}") from e
    if not isinstance(event, dict):
        raise errors.InvalidWebhook("the body is not a Stripe event object")
    return event


def notice_of(event: dict[str, Any]) -> notices.Notice | None:
    """The payment outcome a verified event reports; None for event types we do not use."""
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise errors.InvalidWebhook("the event has no id or type")
    verdict = VERDICTS.get(event_type)
    if verdict is None:
        return None
    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    if not isinstance(intent, dict) or not isinstance(intent.get("id"), str):
        raise errors.InvalidWebhook(f"event {event_id} carries no PaymentIntent")
    error = intent.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    code = error.get("decline_code") or error.get("code")
    message = error.get("message") or intent.get("cancellation_reason") or ""
    return notices.Notice(
        event_id=event_id[:255],
        event_type=event_type,
        verdict=verdict,
        reference=intent["id"],
        order_id=_order_id(intent.get("metadata")),
        decline_code=code if isinstance(code, str) else None,
        message=message if isinstance(message, str) else "",
    )


def _order_id(metadata: object) -> uuid.UUID | None:
    raw = metadata.get("orderId") if isinstance(metadata, dict) else None
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
