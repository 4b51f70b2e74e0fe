"""The saga's state machine: every transition of an Order, with no I/O.

The reconciler asks ``step_to_run`` what to do, records the attempt with ``begin``, performs
the step (an idempotent service call), and feeds the outcome back through ``apply``; late
facts from Kafka (a payment confirmed by webhook, an expired reservation) and deletion come in
through ``apply`` too. Because the whole saga is this value, written to the Order's status
after each transition, a restarted operator resumes from the status: the step in flight is
simply run again, and the services answer a repeat with the stored result.

Phases follow design.md section 2; ``Pending`` first asks orders whether it placed the order
on the Order's terms (``verify-order``), so an Order made by hand ends ``Cancelled``
(``UnknownOrder`` / ``OrderMismatch``) before anything is taken::

    Pending ─verified─▶ Pending ─reserved─▶ StockReserved ─authorized─▶ PaymentAuthorized
                                     └─pending─▶ PaymentPending ─confirmed─┘
    PaymentAuthorized ─committed (the pivot)─▶ PaymentAuthorized ─completed─▶ Completed
    any failure ─▶ Compensating (refund? → release? → cancel) ─▶ Cancelled
                                        └─ a compensation exhausted or refused ─▶ Failed

Committing the reservation is the saga's pivot: it sells the stock, and inventory cannot undo
that. Once the commit is sent its outcome may be unknown (the reply lost, the operator killed),
and a pivot in doubt is never compensated, only resolved: it has no deadline, deletion waits
for it, and it is asked again (the commit is idempotent) until inventory answers; once the
attempts run out, on the slow ``Failed`` timer. Inventory's answer decides: committed goes
forward; refused (the reservation expired first) compensates, and nothing was sold. Past the
pivot the saga only goes forward the same way: completing the order is retried until orders
answers. Only orders refusing to complete it compensates past the pivot, and that ends
``Failed`` (the stock stays sold; a human returns it) rather than ``Cancelled``.

Business rejections are final for their step; transient failures are retried up to
``RetryLimits``, then count as the step's failure. ``Failed`` still has work when a
compensation ran out of attempts: the reconciler keeps retrying it on a slow timer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType


class Phase(enum.StrEnum):
    PENDING = "Pending"
    STOCK_RESERVED = "StockReserved"
    PAYMENT_PENDING = "PaymentPending"
    PAYMENT_AUTHORIZED = "PaymentAuthorized"
    COMPENSATING = "Compensating"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"
    FAILED = "Failed"


class Step(enum.StrEnum):
    VERIFY_ORDER = "verify-order"  # orders confirms it placed this order, on these terms
    RESERVE_STOCK = "reserve-stock"
    AUTHORIZE_PAYMENT = "authorize-payment"
    COMMIT_RESERVATION = "commit-reservation"
    COMPLETE_ORDER = "complete-order"
    REFUND_PAYMENT = "refund-payment"
    RELEASE_STOCK = "release-stock"
    CANCEL_ORDER = "cancel-order"


class StepState(enum.StrEnum):
    PENDING = "Pending"  # planned, not begun (compensations are planned all at once)
    RUNNING = "Running"  # begun; its outcome is not known yet (or it waits for a webhook)
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"  # a compensation the service refused: nothing left to undo there


class Reason(enum.StrEnum):
    """Why a saga did not complete: status.reason, CamelCase as in Kubernetes conditions."""

    OUT_OF_STOCK = "OutOfStock"
    PAYMENT_DECLINED = "PaymentDeclined"
    PAYMENT_INVALID = "PaymentInvalid"
    INVENTORY_TIMEOUT = "InventoryTimeout"
    PAYMENT_TIMEOUT = "PaymentTimeout"
    INVENTORY_UNAVAILABLE = "InventoryUnavailable"
    PAYMENT_UNAVAILABLE = "PaymentUnavailable"
    ORDERS_UNAVAILABLE = "OrdersUnavailable"
    RESERVATION_EXPIRED = "ReservationExpired"
    RESERVATION_REJECTED = "ReservationRejected"
    ORDER_REJECTED = "OrderRejected"
    UNKNOWN_ORDER = "UnknownOrder"  # orders never placed it: an Order made by hand
    ORDER_MISMATCH = "OrderMismatch"  # orders placed it on other terms than the Order's
    DELETED = "Deleted"
    COMPENSATION_EXHAUSTED = "CompensationExhausted"
    COMPENSATION_REFUSED = "CompensationRefused"


FORWARD = (
    Step.VERIFY_ORDER,
    Step.RESERVE_STOCK,
    Step.AUTHORIZE_PAYMENT,
    Step.COMMIT_RESERVATION,
    Step.COMPLETE_ORDER,
)
COMPENSATIONS = (Step.REFUND_PAYMENT, Step.RELEASE_STOCK, Step.CANCEL_ORDER)
# Steps that only ask: a crash before their answer loses nothing, so their start needs no
# status write (the reconciler persists the start of every other step before calling it).
READ_ONLY = frozenset({Step.VERIFY_ORDER})
SETTLED_PHASES = frozenset({Phase.COMPLETED, Phase.CANCELLED})
_COMPENSATING_PHASES = frozenset({Phase.COMPENSATING, Phase.FAILED})

# What a forward step's failure is called, by how it failed. Only these two steps have
# deadlines (``Deadlines.of``): each can be compensated whatever its outcome was.
_TIMEOUT_REASON = {
    Step.RESERVE_STOCK: Reason.INVENTORY_TIMEOUT,
    Step.AUTHORIZE_PAYMENT: Reason.PAYMENT_TIMEOUT,
}
_UNAVAILABLE_REASON = {
    Step.VERIFY_ORDER: Reason.ORDERS_UNAVAILABLE,
    Step.RESERVE_STOCK: Reason.INVENTORY_UNAVAILABLE,
    Step.AUTHORIZE_PAYMENT: Reason.PAYMENT_UNAVAILABLE,
    Step.COMMIT_RESERVATION: Reason.INVENTORY_UNAVAILABLE,
    Step.COMPLETE_ORDER: Reason.ORDERS_UNAVAILABLE,
}
_REJECTED_REASON = {
    Step.VERIFY_ORDER: Reason.UNKNOWN_ORDER,
    Step.RESERVE_STOCK: Reason.OUT_OF_STOCK,
    Step.AUTHORIZE_PAYMENT: Reason.PAYMENT_DECLINED,
    Step.COMMIT_RESERVATION: Reason.RESERVATION_EXPIRED,
    Step.COMPLETE_ORDER: Reason.ORDER_REJECTED,
}


@dataclass(frozen=True)
class StepRecord:
    state: StepState
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class Saga:
    """One order's saga. Immutable: every transition returns a new value."""

    phase: Phase
    started_at: datetime
    steps: Mapping[Step, StepRecord] = field(default_factory=lambda: MappingProxyType({}))
    reason: str = ""
    message: str = ""
    reservation_id: str | None = None
    payment_id: str | None = None
    finished_at: datetime | None = None

    def record(self, step: Step) -> StepRecord | None:
        return self.steps.get(step)

    def state_of(self, step: Step) -> StepState | None:
        found = self.steps.get(step)
        return found.state if found else None

    @property
    def settled(self) -> bool:
        """Nothing will ever change again: completed, cancelled, or failed with nothing left."""
        return self.phase in SETTLED_PHASES or (
            self.phase is Phase.FAILED and step_to_run(self) is None
        )


@dataclass(frozen=True)
class Deadlines:
    inventory: timedelta = timedelta(seconds=30)
    payment: timedelta = timedelta(seconds=60)

    def of(self, step: Step) -> timedelta | None:
        """The step's time limit. The pivot has none: a deadline may only compensate what
        can be undone, and a commit whose reply was lost may have sold the stock. Inventory
        bounds it instead (a reservation it expired refuses the commit). Verifying,
        completing and compensating are bounded by attempts, not time."""
        if step is Step.RESERVE_STOCK:
            return self.inventory
        if step is Step.AUTHORIZE_PAYMENT:
            return self.payment
        return None


@dataclass(frozen=True)
class RetryLimits:
    """Attempts per step before a transient failure counts as the step's failure."""

    forward: int = 8
    compensation: int = 8


# The outcomes of a step, and the facts that arrive on their own.


@dataclass(frozen=True)
class Succeeded:
    step: Step
    reference: str | None = None  # the reservation or payment id the service gave


@dataclass(frozen=True)
class Pending:
    """The payment provider waits for the customer (3-D Secure); a webhook will tell."""

    step: Step


@dataclass(frozen=True)
class Rejected:
    """A business answer (out of stock, declined, refused): final for the step."""

    step: Step
    message: str
    reason: str | None = None  # overrides the step's default reason


@dataclass(frozen=True)
class Unavailable:
    """A transient failure (timeout, 5xx, connection refused): retried up to the limit."""

    step: Step
    message: str


@dataclass(frozen=True)
class DeadlineExpired:
    step: Step


@dataclass(frozen=True)
class PaymentConfirmed:
    payment_id: str


@dataclass(frozen=True)
class PaymentFailed:
    message: str


@dataclass(frozen=True)
class ReservationExpired:
    pass


@dataclass(frozen=True)
class DeletionRequested:
    pass


Outcome = (
    Succeeded
    | Pending
    | Rejected
    | Unavailable
    | DeadlineExpired
    | PaymentConfirmed
    | PaymentFailed
    | ReservationExpired
    | DeletionRequested
)


def start(now: datetime) -> Saga:
    return Saga(phase=Phase.PENDING, started_at=now)


def step_to_run(saga: Saga) -> Step | None:
    """The step the saga needs now; None when it waits (for a webhook) or is finished."""
    if saga.phase is Phase.PENDING:
        verified = saga.state_of(Step.VERIFY_ORDER) is StepState.SUCCEEDED
        return Step.RESERVE_STOCK if verified else Step.VERIFY_ORDER
    if saga.phase is Phase.STOCK_RESERVED:
        return Step.AUTHORIZE_PAYMENT
    if saga.phase is Phase.PAYMENT_AUTHORIZED:
        if not past_pivot(saga):
            return Step.COMMIT_RESERVATION
        return Step.COMPLETE_ORDER
    if saga.phase in _COMPENSATING_PHASES:
        for step in COMPENSATIONS:
            if saga.state_of(step) in (StepState.PENDING, StepState.RUNNING):
                return step
    return _resolving_after_failure(saga)


def past_pivot(saga: Saga) -> bool:
    """The reservation is committed: the stock is sold, and the saga can only go forward."""
    return saga.state_of(Step.COMMIT_RESERVATION) is StepState.SUCCEEDED


def _resolving_after_failure(saga: Saga) -> Step | None:
    """The step a saga that failed forward still retries on the slow timer: the pivot whose
    outcome is unknown (it may have sold the stock), or, past the pivot, the completion."""
    if saga.phase is not Phase.FAILED or any(saga.record(step) for step in COMPENSATIONS):
        return None
    for step in (Step.COMMIT_RESERVATION, Step.COMPLETE_ORDER):
        if saga.state_of(step) is StepState.RUNNING:
            return step
    return None


def begin(saga: Saga, step: Step, now: datetime) -> Saga:
    """Record an attempt at ``step`` (before calling the service, so a crash still counts)."""
    previous = saga.record(step) or StepRecord(StepState.PENDING)
    started = previous.started_at or now
    record = replace(previous, state=StepState.RUNNING, attempts=previous.attempts + 1)
    return _with_step(saga, step, replace(record, started_at=started))


def expired_step(saga: Saga, now: datetime, deadlines: Deadlines) -> Step | None:
    """The forward step in flight whose deadline has passed, if any."""
    if saga.phase in _COMPENSATING_PHASES or saga.phase in SETTLED_PHASES:
        return None
    for step in FORWARD:
        record, limit = saga.record(step), deadlines.of(step)
        if record and record.state is StepState.RUNNING and record.started_at and limit:
            if now >= record.started_at + limit:
                return step
    return None


def deadline_of(saga: Saga, deadlines: Deadlines) -> datetime | None:
    """When the forward step in flight times out (the reconciler sleeps until then at most)."""
    for step in FORWARD:
        record, limit = saga.record(step), deadlines.of(step)
        if record and record.state is StepState.RUNNING and record.started_at and limit:
            if saga.phase not in _COMPENSATING_PHASES and saga.phase not in SETTLED_PHASES:
                return record.started_at + limit
    return None


def apply(saga: Saga, outcome: Outcome, now: datetime, limits: RetryLimits) -> Saga:
    """The saga after ``outcome``; outcomes that no longer matter leave it unchanged."""
    if saga.phase in SETTLED_PHASES:
        return saga  # late news for a finished saga: the services already settled it
    match outcome:
        case Succeeded(step=step, reference=reference):
            return _succeeded(saga, step, reference, now)
        case Pending(step=step):
            if saga.phase is Phase.STOCK_RESERVED and step is Step.AUTHORIZE_PAYMENT:
                return replace(saga, phase=Phase.PAYMENT_PENDING)
            return saga
        case Rejected(step=step, message=message, reason=reason):
            return _rejected(saga, step, message, reason, now)
        case Unavailable(step=step, message=message):
            return _unavailable(saga, step, message, now, limits)
        case DeadlineExpired(step=step):
            if step in _TIMEOUT_REASON and _is_current_forward(saga, step):
                message = f"{step} did not finish before its deadline"
                return _compensate(saga, step, _TIMEOUT_REASON[step], message, now)
            return saga
        case PaymentConfirmed(payment_id=payment_id):
            if saga.phase is Phase.PAYMENT_PENDING:
                return _succeeded(saga, Step.AUTHORIZE_PAYMENT, payment_id, now)
            return saga
        case PaymentFailed(message=message):
            if saga.phase is Phase.PAYMENT_PENDING:
                return _rejected(saga, Step.AUTHORIZE_PAYMENT, message, None, now)
            return saga
        case ReservationExpired():
            # Inventory never expires a committed reservation, nor commits an expired one:
            # an expiry settles a pivot in doubt as "not sold".
            if (
                saga.phase in (Phase.STOCK_RESERVED, Phase.PAYMENT_PENDING)
                or (saga.phase is Phase.PAYMENT_AUTHORIZED and not past_pivot(saga))
                or _resolving_after_failure(saga) is Step.COMMIT_RESERVATION
            ):
                return _compensate(
                    saga,
                    _current_forward(saga) or Step.COMMIT_RESERVATION,
                    Reason.RESERVATION_EXPIRED,
                    "the stock reservation expired before it was committed",
                    now,
                )
            return saga
        case DeletionRequested():
            if saga.phase in _COMPENSATING_PHASES or _pivot_begun(saga):
                # Compensating already, or the stock is sold (or may be: a commit in flight
                # is resolved by its answer first): finish first.
                return saga
            return _compensate(
                saga, _current_forward(saga), Reason.DELETED, "the Order was deleted", now
            )
    raise AssertionError(f"unhandled outcome {outcome!r}")  # pragma: no cover


def _succeeded(saga: Saga, step: Step, reference: str | None, now: datetime) -> Saga:
    if step in COMPENSATIONS:
        if saga.phase not in _COMPENSATING_PHASES or saga.state_of(step) not in (
            StepState.PENDING,
            StepState.RUNNING,
        ):
            return saga
        return _after_compensation_step(_finish(saga, step, StepState.SUCCEEDED, "", now), now)
    if not _is_current_forward(saga, step):
        return saga  # a repeat of a step already past (e.g. a restart raced its own status)
    saga = _finish(saga, step, StepState.SUCCEEDED, "", now)
    if step is Step.VERIFY_ORDER:
        return saga
    if step is Step.RESERVE_STOCK:
        return replace(saga, phase=Phase.STOCK_RESERVED, reservation_id=reference)
    if step is Step.AUTHORIZE_PAYMENT:
        return replace(saga, phase=Phase.PAYMENT_AUTHORIZED, payment_id=reference)
    if step is Step.COMMIT_RESERVATION:
        # A pivot resolved after failing (its replies were lost) leaves no failure behind.
        return replace(saga, phase=Phase.PAYMENT_AUTHORIZED, reason="", message="")
    # A completion retried after failing past the pivot leaves no failure behind.
    return replace(saga, phase=Phase.COMPLETED, reason="", message="", finished_at=now)


def _rejected(saga: Saga, step: Step, message: str, reason: str | None, now: datetime) -> Saga:
    if step in COMPENSATIONS:
        if saga.phase not in _COMPENSATING_PHASES or saga.state_of(step) not in (
            StepState.PENDING,
            StepState.RUNNING,
        ):
            return saga
        skipped = _finish(saga, step, StepState.SKIPPED, message, now)
        return _after_compensation_step(skipped, now)
    if not _is_current_forward(saga, step):
        return saga
    if step is Step.VERIFY_ORDER:  # nothing was taken yet: there is nothing to compensate
        saga = _finish(saga, step, StepState.FAILED, message, now)
        why = reason or _REJECTED_REASON[step]
        return replace(saga, phase=Phase.CANCELLED, reason=why, message=message, finished_at=now)
    return _compensate(saga, step, reason or _REJECTED_REASON[step], message, now)


def _unavailable(saga: Saga, step: Step, message: str, now: datetime, limits: RetryLimits) -> Saga:
    record = saga.record(step)
    if record is None or record.state is not StepState.RUNNING:
        return saga
    saga = _with_step(saga, step, replace(record, message=message))
    if step in COMPENSATIONS:
        if saga.phase is Phase.COMPENSATING and record.attempts >= limits.compensation:
            return replace(
                saga,
                phase=Phase.FAILED,
                reason=Reason.COMPENSATION_EXHAUSTED,
                message=f"{step} still failing after {record.attempts} attempts: {message}",
            )
        return saga
    if _is_current_forward(saga, step) and record.attempts >= limits.forward:
        text = f"{step} failed {record.attempts} times: {message}"
        if _pivot_begun(saga):
            if saga.phase is Phase.FAILED:
                return saga
            text += (
                "; the stock is sold, so the order can only complete: retrying"
                if past_pivot(saga)
                else "; the commit may have sold the stock, so only its answer can settle"
                " the saga: retrying"
            )
            return replace(saga, phase=Phase.FAILED, reason=_UNAVAILABLE_REASON[step], message=text)
        return _compensate(saga, step, _UNAVAILABLE_REASON[step], text, now)
    return saga


def _compensate(saga: Saga, failed: Step | None, reason: str, message: str, now: datetime) -> Saga:
    """Plan the compensations for what may have happened, and start on them."""
    if failed is not None and saga.state_of(failed) is StepState.RUNNING:
        saga = _finish(saga, failed, StepState.FAILED, message, now)
    # A refused step took nothing (no stock for an out-of-stock order, no money for a
    # declined card): it needs no compensation. Any other failed step may have taken it.
    refused = _REFUSED_BY.get(reason)
    plan = []
    if refused is not Step.AUTHORIZE_PAYMENT and _began(saga, Step.AUTHORIZE_PAYMENT):
        plan.append(Step.REFUND_PAYMENT)
    if refused is not Step.RESERVE_STOCK and _began(saga, Step.RESERVE_STOCK):
        plan.append(Step.RELEASE_STOCK)
    plan.append(Step.CANCEL_ORDER)
    steps = dict(saga.steps)
    for step in plan:
        steps[step] = StepRecord(StepState.PENDING)
    if past_pivot(saga):  # inventory cannot take sold stock back: say so, and leave it
        steps[Step.RELEASE_STOCK] = StepRecord(
            StepState.SKIPPED, finished_at=now, started_at=now, message=_SOLD
        )
    return replace(
        saga,
        phase=Phase.COMPENSATING,
        reason=reason,
        message=message,
        steps=MappingProxyType(steps),
    )


_SOLD = "the reservation is committed: its stock stays sold until someone returns it"

_REFUSED_BY: dict[str, Step] = {
    Reason.OUT_OF_STOCK: Step.RESERVE_STOCK,
    Reason.PAYMENT_DECLINED: Step.AUTHORIZE_PAYMENT,
    Reason.PAYMENT_INVALID: Step.AUTHORIZE_PAYMENT,  # refused before any provider call
}


def _pivot_begun(saga: Saga) -> bool:
    """The commit was sent at least once: the stock is sold, or may be until it answers."""
    return _began(saga, Step.COMMIT_RESERVATION)


def _began(saga: Saga, step: Step) -> bool:
    record = saga.record(step)
    return record is not None and record.state is not StepState.PENDING


def _after_compensation_step(saga: Saga, now: datetime) -> Saga:
    if step_to_run(saga) is not None:
        return saga
    refused = [s for s in COMPENSATIONS if saga.state_of(s) is StepState.SKIPPED]
    if refused:
        why = "; ".join(f"{s}: {saga.steps[s].message}" for s in refused)
        return replace(
            saga,
            phase=Phase.FAILED,
            reason=Reason.COMPENSATION_REFUSED,
            message=f"{why} (the saga failed with {saga.reason}: {saga.message})",
            finished_at=now,
        )
    return replace(saga, phase=Phase.CANCELLED, finished_at=now)


def _current_forward(saga: Saga) -> Step | None:
    """The forward step the phase is on (running or about to run)."""
    resolving = _resolving_after_failure(saga)
    if resolving is not None:
        return resolving
    if saga.phase in (Phase.PENDING, Phase.STOCK_RESERVED, Phase.PAYMENT_AUTHORIZED):
        return step_to_run(saga)
    if saga.phase is Phase.PAYMENT_PENDING:
        return Step.AUTHORIZE_PAYMENT
    return None


def _is_current_forward(saga: Saga, step: Step) -> bool:
    return _current_forward(saga) is step


def _finish(saga: Saga, step: Step, state: StepState, message: str, now: datetime) -> Saga:
    previous = saga.record(step) or StepRecord(StepState.PENDING)
    return _with_step(
        saga,
        step,
        replace(
            previous,
            state=state,
            finished_at=now,
            started_at=previous.started_at or now,
            message=message,
        ),
    )


def _with_step(saga: Saga, step: Step, record: StepRecord) -> Saga:
    steps = dict(saga.steps)
    steps[step] = record
    return replace(saga, steps=MappingProxyType(steps))
