"""The operator's Prometheus metrics, served on ``SAGA_METRICS_PORT`` (/metrics).

Counted where the transition is observed, so a saga a restarted operator finishes is counted
once: ``started`` when its first status is written, the outcome when it settles. The gauges
(active replica, in flight by phase, overdue) are ``vitals``'.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from operators.saga.machine import Reason

# A saga spans seconds (a card) to minutes (3-D Secure, a deadline, a slow compensation).
SAGA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

SAGA_STARTED = Counter("order_saga_started", "Sagas begun (first status written).")
SAGA_COMPLETED = Counter("order_saga_completed", "Sagas that ended Completed.")
SAGA_COMPENSATED = Counter(
    "order_saga_compensated", "Sagas that ended Cancelled after compensating.", ["reason"]
)
SAGA_FAILED = Counter(
    "order_saga_failed", "Sagas whose compensation could not finish (phase Failed).", ["reason"]
)
SAGA_DURATION = Histogram(
    "order_saga_duration_seconds",
    "From the Order's first status to its outcome, by phase reached.",
    ["phase"],
    buckets=SAGA_BUCKETS,
)
STEP_DURATION = Histogram(
    "order_saga_step_duration_seconds",
    "One attempt at one step (a service call), by step and outcome.",
    ["step", "outcome"],
    buckets=STEP_BUCKETS,
)
BRIDGE_EVENTS = Counter(
    "saga_bridge_events",
    "Kafka events the bridge applied to Orders, by type and effect.",
    ["type", "effect"],
)

# Every reason's series exists from the start at 0, so a rate or an alert sees the first one.
for _reason in Reason:
    SAGA_COMPENSATED.labels(str(_reason))
    SAGA_FAILED.labels(str(_reason))
