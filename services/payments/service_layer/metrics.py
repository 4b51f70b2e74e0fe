"""The payments service's own Prometheus metrics (the runtime exports retries and breakers).

``payment_failures_total{reason}`` counts payments that did not go through, by why: the
decline code of a refused card, ``canceled``, ``provider_unavailable`` (retries exhausted)
or ``circuit_open``. Retries are ``retries_total{operation="payments.authorize"}`` and the
breaker's state is ``circuit_breaker_state{name}``, both from the runtime.
"""

from __future__ import annotations

from prometheus_client import Counter

PAYMENT_FAILURES = Counter(
    "payment_failures", "Payments that did not go through, by reason.", ["reason"]
)
PAYMENT_OUTCOMES = Counter(
    "payment_outcomes", "Authorization outcomes recorded, by status.", ["status"]
)
WEBHOOK_NOTICES = Counter(
    "payment_webhook_events", "Verified provider webhook events, by what came of them.", ["result"]
)
