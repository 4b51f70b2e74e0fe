"""The orders service's own Prometheus metrics, counted once the transaction has committed.

``orders_created_total{currency}`` counts orders placed (a replayed Idempotency-Key answer
is not a new order and is not counted); ``orders_finished_total{phase}`` counts orders
completed or cancelled. Latency of order creation is the HTTP request histogram's
``POST /orders`` series. Served on ``/metrics`` with the runtime's metrics.
"""

from __future__ import annotations

from prometheus_client import Counter

ORDERS_CREATED = Counter("orders_created", "Orders placed, by currency.", ["currency"])
ORDERS_FINISHED = Counter(
    "orders_finished", "Orders that reached a final phase, by phase.", ["phase"]
)
