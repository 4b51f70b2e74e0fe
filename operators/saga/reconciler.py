"""Drives one Order's saga: ask the machine, run the step, write the status, repeat.

``handlers`` calls ``drive`` from a kopf daemon (one task per unfinished Order, respawned for
every such Order when an operator starts, so a killed operator's sagas resume) and from the
deletion handler. Level-triggered: each pass starts from the saga value (the status, or this
process's newer copy in the Order's memo), folds in the bridge's signals and expired
deadlines, and runs the step the machine names. The status is written before each service
call that takes something (a read-only step such as ``verify-order`` needs none), so a crash
between the call and the write only means the call runs again, and the service answers the
repeat with its stored result: nothing is taken twice. A step the status shows as Running
when a new operator takes over is one whose outcome is unknown, and it is asked again. Before
the pivot a deadline may still compensate it: each compensation is an idempotent answer in
itself (inventory and payments leave a tombstone for a request that never arrived). The
pivot has no deadline: only inventory's answer to the repeated commit settles it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from operators.saga import machine, signals, status, steps
from operators.saga.bridge import CORRELATION_ANNOTATION, TRACEPARENT_ANNOTATION
from operators.saga.clients import Orders, Services
from operators.saga.machine import Phase, Saga
from operators.saga.metrics import (
    SAGA_COMPENSATED,
    SAGA_COMPLETED,
    SAGA_DURATION,
    SAGA_FAILED,
    SAGA_STARTED,
    STEP_DURATION,
)
from operators.saga.settings import SagaSettings
from services.runtime.kafka import retry_delay

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer("kubesaga.saga")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reporter(Protocol):
    """Posts a Kubernetes Event on the Order (kopf's poster in the operator)."""

    def __call__(self, kind: str, reason: str, message: str) -> None: ...


@dataclass
class Context:
    """What every saga shares in one operator process; built at start-up."""

    settings: SagaSettings
    services: Services
    orders: Orders
    clock: Clock = utc_now


@dataclass
class Order:
    """One Order as the reconciler sees it; ``saga`` is the newest value this process knows."""

    name: str
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    generation: int
    saga: Saga
    conditions: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False  # has this saga's status been written at least once?

    @property
    def correlation_id(self) -> str:
        return self.annotations.get(CORRELATION_ANNOTATION) or self.name


def deadlines_for(spec: Mapping[str, Any], settings: SagaSettings) -> machine.Deadlines:
    """The Order's own deadlines where its spec sets them, the operator's otherwise."""
    own = spec.get("deadlines") or {}
    return machine.Deadlines(
        inventory=timedelta(
            seconds=own.get("inventorySeconds") or settings.deadlines.inventory_seconds
        ),
        payment=timedelta(seconds=own.get("paymentSeconds") or settings.deadlines.payment_seconds),
    )


Wait = Callable[[float], Awaitable[bool]]  # sleeps up to n seconds; True if told to stop


async def drive(
    ctx: Context,
    order: Order,
    report: Reporter,
    *,
    live_signals: Callable[[], Mapping[str, Any] | None],
    wait: Wait,
    should_stop: Callable[[], bool],
    until_blocked: bool = False,
) -> float | None:
    """Advance the saga until it settles (None) or, with ``until_blocked``, until it must wait
    (the seconds to wait before retrying). Without it, waits itself, until ``wait`` says stop."""
    settings, limits = ctx.settings, ctx.settings.limits()
    deadlines = deadlines_for(order.spec, settings)
    spec = steps.OrderSpec.of(order.spec)
    saga = order.saga
    if not order.written:
        SAGA_STARTED.inc()
        await _write(ctx, order, saga, report)
    while True:
        if should_stop():  # the Order is being deleted, or the operator stops
            await _write(ctx, order, saga, report)
            return None
        for outcome in signals.outcomes(live_signals()):
            saga = machine.apply(saga, outcome, ctx.clock(), limits)
        expired = machine.expired_step(saga, ctx.clock(), deadlines)
        if expired is not None:
            saga = machine.apply(saga, machine.DeadlineExpired(expired), ctx.clock(), limits)
        if saga.settled:
            await _write(ctx, order, saga, report)
            return None
        step = machine.step_to_run(saga)
        if step is None:  # waiting for the customer (3-D Secure) or the deadline
            await _write(ctx, order, saga, report)
            pause = _until_deadline(saga, deadlines, ctx.clock(), longest=0.5)
            if until_blocked:
                return pause
            if await wait(pause):
                return None
            continue
        saga = machine.begin(saga, step, ctx.clock())
        if step not in machine.READ_ONLY:
            await _write(ctx, order, saga, report)
        outcome = await _run_step(ctx, order, spec, step)
        saga = machine.apply(saga, outcome, ctx.clock(), limits)
        if isinstance(outcome, machine.Unavailable) and machine.step_to_run(saga) is step:
            await _write(ctx, order, saga, report)
            backoff = _backoff(saga, step, settings)
            pause = _until_deadline(saga, deadlines, ctx.clock(), longest=backoff)
            logger.warning(
                "%s for order %s failed (attempt %d); retrying in %.1fs: %s",
                step,
                order.name,
                _attempts(saga, step),
                pause,
                outcome.message,
                extra={"orderId": order.name},
            )
            if until_blocked:
                return pause
            if await wait(pause):
                return None


async def _run_step(
    ctx: Context, order: Order, spec: steps.OrderSpec, step: machine.Step
) -> machine.Outcome:
    """One attempt, in a span of the order's trace (parent: the bridge's consumer span)."""
    carrier = {"traceparent": order.annotations.get(TRACEPARENT_ANNOTATION, "")}
    parent = propagate.extract(carrier) if carrier["traceparent"] else otel_context.Context()
    started = time.perf_counter()
    with _tracer.start_as_current_span(
        f"saga {step}",
        context=parent,
        attributes={
            "kubesaga.order_id": order.name,
            "kubesaga.step": str(step),
            "kubesaga.attempt": _attempts(order.saga, step) + 1,
        },
    ) as span:
        outcome = await steps.run(
            step,
            ctx.services,
            spec,
            correlation_id=order.correlation_id,
            reason=order.saga.reason or "saga failed",
        )
        kind = type(outcome).__name__
        span.set_attribute("kubesaga.outcome", kind)
        if isinstance(outcome, machine.Unavailable | machine.Rejected):
            span.set_attribute("kubesaga.message", outcome.message[:512])
    STEP_DURATION.labels(str(step), kind).observe(time.perf_counter() - started)
    return outcome


async def _write(ctx: Context, order: Order, saga: Saga, report: Reporter) -> None:
    """Patch the status (when it changed), post an Event and count a settled saga."""
    before = order.saga
    if order.written and saga == before:
        return
    now = ctx.clock()
    body = status.status_of(
        saga, previous_conditions=order.conditions, generation=order.generation, now=now
    )
    body["correlationId"] = order.correlation_id
    if TRACEPARENT_ANNOTATION in order.annotations:
        body["traceparent"] = order.annotations[TRACEPARENT_ANNOTATION]
    await ctx.orders.patch_status(order.name, body)
    first = not order.written
    order.saga, order.conditions, order.written = saga, body["conditions"], True
    if first or saga.phase is not before.phase:
        _announce(order, saga, report)
        if not first:
            _count(saga, before)


def _announce(order: Order, saga: Saga, report: Reporter) -> None:
    warning = saga.phase in (Phase.COMPENSATING, Phase.FAILED)
    message = saga.message or f"the saga is now {saga.phase}"
    report("Warning" if warning else "Normal", str(saga.phase), message)
    logger.info(
        "order %s is %s%s",
        order.name,
        saga.phase,
        f" ({saga.reason}: {saga.message})" if saga.reason else "",
        extra={"orderId": order.name, "correlationId": order.correlation_id},
    )


def _count(saga: Saga, before: Saga) -> None:
    if not saga.settled or before.settled:
        return
    end = saga.finished_at or utc_now()
    SAGA_DURATION.labels(str(saga.phase)).observe((end - saga.started_at).total_seconds())
    if saga.phase is Phase.COMPLETED:
        SAGA_COMPLETED.inc()
    elif saga.phase is Phase.CANCELLED:
        SAGA_COMPENSATED.labels(saga.reason).inc()
    else:
        SAGA_FAILED.labels(saga.reason).inc()


def _attempts(saga: Saga, step: machine.Step) -> int:
    record = saga.record(step)
    return record.attempts if record else 0


def _backoff(saga: Saga, step: machine.Step, settings: SagaSettings) -> float:
    if saga.phase is Phase.FAILED:
        return settings.retry.failed_interval.total_seconds()
    return retry_delay(
        _attempts(saga, step),
        initial=settings.retry.backoff_initial,
        maximum=settings.retry.backoff_max,
    )


def _until_deadline(
    saga: Saga, deadlines: machine.Deadlines, now: datetime, *, longest: float
) -> float:
    """How long to sleep: ``longest``, but never past the step's deadline."""
    due = machine.deadline_of(saga, deadlines)
    if due is None:
        return longest
    return max(0.05, min(longest, (due - now).total_seconds()))
