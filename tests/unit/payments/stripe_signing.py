"""Signs webhook bodies the way Stripe does, for the webhook tests (unit and integration).

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the endpoint
secret>``. Written out here rather than borrowed from the SDK, so the tests check the SDK's
verification against the documented scheme, not against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

SECRET = "whsec_test_payments_secret"


def signature(body: bytes, *, secret: str = SECRET, at: float | None = None) -> str:
    timestamp = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def intent_event(
    event_type: str,
    *,
    intent_id: str,
    order_id: uuid.UUID | str | None = None,
    event_id: str | None = None,
    last_error: dict[str, Any] | None = None,
) -> bytes:
    """A Stripe event body about a PaymentIntent, as Stripe sends it (the fields we read)."""
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "metadata": {} if order_id is None else {"orderId": str(order_id)},
        "last_payment_error": last_error,
        "status": {
            "payment_intent.succeeded": "succeeded",
            "payment_intent.payment_failed": "requires_payment_method",
            "payment_intent.canceled": "canceled",
        }.get(event_type, "processing"),
    }
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "data": {"object": intent},
    }
    return json.dumps(event).encode()
