"""The saga state machine, transition by transition (table-driven) and end to end by paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from operators.saga import machine
from operators.saga.machine import (
    DeadlineExpired,
    DeletionRequested,
    PaymentConfirmed,
    PaymentFailed,
    Pending,
    Phase,
    Reason,
    Rejected,
    ReservationExpired,
    Saga,
    Step,
    StepState,
    Succeeded,
    Unavailable,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = machine.RetryLimits(forward=3, compensation=2)
DEADLINES = machine.Deadlines(inventory=timedelta(seconds=30), payment=timedelta(seconds=60))


def run(saga: Saga, outcome: machine.Outcome, *, at: datetime = T0) -> Saga:
    """Begin the step the outcome is about (when it is the one to run), then apply it."""
    step: Step | None = getattr(outcome, "step", None)
    if step is not None and machine.step_to_run(saga) is step:
        saga = machine.begin(saga, step, at)
    return machine.apply(saga, outcome, at, LIMITS)


def through(*outcomes: machine.Outcome) -> Saga:
    """A verified saga (orders placed it), then ``outcomes`` in order."""
    saga = run(machine.start(T0), VERIFIED)
    for outcome in outcomes:
        saga = run(saga, outcome)
    return saga


VERIFIED = Succeeded(Step.VERIFY_ORDER)
RESERVED = Succeeded(Step.RESERVE_STOCK, "r-1")
AUTHORIZED = Succeeded(Step.AUTHORIZE_PAYMENT, "p-1")
COMMITTED = Succeeded(Step.COMMIT_RESERVATION)
COMPLETED = Succeeded(Step.COMPLETE_ORDER)
REFUNDED = Succeeded(Step.REFUND_PAYMENT)
RELEASED = Succeeded(Step.RELEASE_STOCK)
CANCELLED = Succeeded(Step.CANCEL_ORDER)


def test_a_new_saga_asks_orders_first_then_reserves_stock() -> None:
    saga = machine.start(T0)
    assert saga.phase is Phase.PENDING
    assert machine.step_to_run(saga) is Step.VERIFY_ORDER
    saga = run(saga, VERIFIED)
    assert saga.phase is Phase.PENDING
    assert machine.step_to_run(saga) is Step.RESERVE_STOCK


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Rejected(Step.VERIFY_ORDER, "no such order"), Reason.UNKNOWN_ORDER),
        (
            Rejected(Step.VERIFY_ORDER, "amount differs", Reason.ORDER_MISMATCH),
            Reason.ORDER_MISMATCH,
        ),
    ],
)
def test_an_order_orders_did_not_place_ends_cancelled_before_anything_is_taken(
    answer: Rejected, reason: Reason
) -> None:
    saga = run(machine.start(T0), answer)
    assert (saga.phase, saga.reason, saga.message) == (Phase.CANCELLED, reason, answer.message)
    assert saga.settled and saga.finished_at == T0
    assert list(saga.steps) == [Step.VERIFY_ORDER]  # no stock, no money, nothing to undo
    assert saga.state_of(Step.VERIFY_ORDER) is StepState.FAILED


def test_orders_unreachable_while_verifying_is_retried_then_cancels_the_saga() -> None:
    saga = machine.start(T0)
    for _ in range(LIMITS.forward):
        saga = run(saga, Unavailable(Step.VERIFY_ORDER, "503"))
    assert (saga.phase, saga.reason) == (Phase.COMPENSATING, Reason.ORDERS_UNAVAILABLE)
    planned = [s for s in machine.COMPENSATIONS if saga.state_of(s) is StepState.PENDING]
    assert planned == [Step.CANCEL_ORDER]


def test_the_happy_path_runs_the_forward_steps_in_order() -> None:
    saga = machine.start(T0)
    seen = []
    for outcome in (VERIFIED, RESERVED, AUTHORIZED, COMMITTED, COMPLETED):
        seen.append(machine.step_to_run(saga))
        saga = run(saga, outcome)
    assert seen == list(machine.FORWARD)
    assert saga.phase is Phase.COMPLETED
    assert saga.settled and saga.finished_at == T0
    assert (saga.reservation_id, saga.payment_id) == ("r-1", "p-1")
    assert all(saga.state_of(s) is StepState.SUCCEEDED for s in machine.FORWARD)
    assert not any(saga.record(s) for s in machine.COMPENSATIONS)


@pytest.mark.parametrize(
    ("outcomes", "reason", "plan"),
    [
        pytest.param(
            [Rejected(Step.RESERVE_STOCK, "SKU-1: 2 requested, 0 left")],
            Reason.OUT_OF_STOCK,
            [Step.CANCEL_ORDER],
            id="out of stock: nothing to give back",
        ),
        pytest.param(
            [RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "declined")],
            Reason.PAYMENT_DECLINED,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="declined: release, cancel",
        ),
        pytest.param(
            [RESERVED, AUTHORIZED, Rejected(Step.COMMIT_RESERVATION, "expired")],
            Reason.RESERVATION_EXPIRED,
            [Step.REFUND_PAYMENT, Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="failure after authorization: refund, release, cancel",
        ),
        pytest.param(
            [RESERVED, Pending(Step.AUTHORIZE_PAYMENT), DeadlineExpired(Step.AUTHORIZE_PAYMENT)],
            Reason.PAYMENT_TIMEOUT,
            [Step.REFUND_PAYMENT, Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="payment deadline: refund (it may confirm later), release, cancel",
        ),
        pytest.param(
            [DeadlineExpired(Step.RESERVE_STOCK)],
            Reason.INVENTORY_TIMEOUT,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="inventory deadline: release (leaves a tombstone), cancel",
        ),
        pytest.param(
            [RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "HTTP 422", Reason.PAYMENT_INVALID)],
            Reason.PAYMENT_INVALID,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="payment refused as invalid: nothing was charged, release, cancel",
        ),
        pytest.param(
            [RESERVED, Pending(Step.AUTHORIZE_PAYMENT), PaymentFailed("3DS failed")],
            Reason.PAYMENT_DECLINED,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="webhook says failed: release, cancel",
        ),
        pytest.param(
            [RESERVED, ReservationExpired()],
            Reason.RESERVATION_EXPIRED,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="reservation expired before payment",
        ),
        pytest.param(
            [RESERVED, DeletionRequested()],
            Reason.DELETED,
            [Step.RELEASE_STOCK, Step.CANCEL_ORDER],
            id="deleted mid-saga",
        ),
        pytest.param(
            [DeletionRequested()],
            Reason.DELETED,
            [Step.CANCEL_ORDER],
            id="deleted before anything ran",
        ),
    ],
)
def test_each_failure_plans_exactly_the_compensations_it_needs(
    outcomes: list[machine.Outcome], reason: Reason, plan: list[Step]
) -> None:
    saga = through(*outcomes)
    assert saga.phase is Phase.COMPENSATING
    assert saga.reason == reason
    planned = [s for s in machine.COMPENSATIONS if saga.state_of(s) is StepState.PENDING]
    assert planned == plan
    assert machine.step_to_run(saga) is plan[0]
    for step in plan:
        assert machine.step_to_run(saga) is step
        saga = run(saga, Succeeded(step))
    assert saga.phase is Phase.CANCELLED and saga.settled
    assert saga.reason == reason


def test_pending_payment_waits_then_a_confirmation_moves_it_on() -> None:
    saga = through(RESERVED, Pending(Step.AUTHORIZE_PAYMENT))
    assert saga.phase is Phase.PAYMENT_PENDING
    assert machine.step_to_run(saga) is None
    saga = machine.apply(saga, PaymentConfirmed("p-9"), T0, LIMITS)
    assert saga.phase is Phase.PAYMENT_AUTHORIZED and saga.payment_id == "p-9"
    assert machine.step_to_run(saga) is Step.COMMIT_RESERVATION


def test_transient_failures_retry_the_same_step_until_the_limit() -> None:
    saga = through(RESERVED)
    for attempt in range(1, LIMITS.forward):
        saga = run(saga, Unavailable(Step.AUTHORIZE_PAYMENT, "503"))
        assert saga.phase is Phase.STOCK_RESERVED
        assert machine.step_to_run(saga) is Step.AUTHORIZE_PAYMENT
        assert saga.steps[Step.AUTHORIZE_PAYMENT].attempts == attempt
    saga = run(saga, Unavailable(Step.AUTHORIZE_PAYMENT, "503"))
    assert saga.phase is Phase.COMPENSATING
    assert saga.reason == Reason.PAYMENT_UNAVAILABLE
    # It may have reached the provider: refund it.
    assert saga.state_of(Step.REFUND_PAYMENT) is StepState.PENDING


def test_a_transient_failure_then_success_completes() -> None:
    saga = through(Unavailable(Step.RESERVE_STOCK, "connection refused"), RESERVED)
    assert saga.phase is Phase.STOCK_RESERVED
    assert saga.steps[Step.RESERVE_STOCK].attempts == 2


def test_compensation_out_of_attempts_fails_and_keeps_its_work() -> None:
    saga = through(RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "declined"))
    for _ in range(LIMITS.compensation):
        saga = run(saga, Unavailable(Step.RELEASE_STOCK, "503"))
    assert saga.phase is Phase.FAILED
    assert saga.reason == Reason.COMPENSATION_EXHAUSTED
    assert not saga.settled
    assert machine.step_to_run(saga) is Step.RELEASE_STOCK  # retried on a slow timer
    saga = run(saga, RELEASED)
    saga = run(saga, CANCELLED)
    assert saga.phase is Phase.CANCELLED


def test_a_refused_compensation_is_skipped_and_the_saga_fails_settled() -> None:
    saga = through(RESERVED, AUTHORIZED, Rejected(Step.COMMIT_RESERVATION, "expired"))
    saga = run(saga, REFUNDED)
    saga = run(saga, RELEASED)
    saga = run(saga, Rejected(Step.CANCEL_ORDER, "completed already"))
    assert saga.phase is Phase.FAILED
    assert saga.reason == Reason.COMPENSATION_REFUSED
    assert saga.state_of(Step.CANCEL_ORDER) is StepState.SKIPPED
    assert saga.message.startswith("cancel-order: completed already")
    assert saga.settled


def test_past_the_pivot_deletion_lets_the_saga_complete() -> None:
    committed = through(RESERVED, AUTHORIZED, COMMITTED)
    assert machine.past_pivot(committed)
    deleted = machine.apply(committed, DeletionRequested(), T0, LIMITS)
    assert deleted == committed
    assert machine.step_to_run(deleted) is Step.COMPLETE_ORDER
    assert run(deleted, COMPLETED).phase is Phase.COMPLETED


def test_past_the_pivot_an_unavailable_orders_fails_the_saga_but_keeps_completing() -> None:
    saga = through(RESERVED, AUTHORIZED, COMMITTED)
    for _ in range(LIMITS.forward):
        saga = run(saga, Unavailable(Step.COMPLETE_ORDER, "503"))
    assert saga.phase is Phase.FAILED
    assert saga.reason == Reason.ORDERS_UNAVAILABLE
    assert "the stock is sold" in saga.message
    assert not saga.settled
    assert not any(saga.record(s) for s in machine.COMPENSATIONS)
    assert machine.step_to_run(saga) is Step.COMPLETE_ORDER  # on the slow timer
    assert machine.apply(saga, DeletionRequested(), T0, LIMITS) == saga
    still = run(saga, Unavailable(Step.COMPLETE_ORDER, "503"))
    assert (still.phase, still.reason) == (Phase.FAILED, Reason.ORDERS_UNAVAILABLE)
    assert still.steps[Step.COMPLETE_ORDER].attempts == LIMITS.forward + 1
    done = run(still, COMPLETED)
    assert done.phase is Phase.COMPLETED and done.settled
    assert (done.reason, done.message) == ("", "")


def test_past_the_pivot_a_refused_completion_refunds_and_fails_naming_the_sold_stock() -> None:
    saga = through(RESERVED, AUTHORIZED, COMMITTED, Rejected(Step.COMPLETE_ORDER, "404"))
    assert (saga.phase, saga.reason) == (Phase.COMPENSATING, Reason.ORDER_REJECTED)
    planned = [s for s in machine.COMPENSATIONS if saga.state_of(s) is StepState.PENDING]
    assert planned == [Step.REFUND_PAYMENT, Step.CANCEL_ORDER]
    assert saga.state_of(Step.RELEASE_STOCK) is StepState.SKIPPED  # inventory cannot unsell
    saga = run(run(saga, REFUNDED), CANCELLED)
    assert (saga.phase, saga.reason) == (Phase.FAILED, Reason.COMPENSATION_REFUSED)
    assert saga.settled
    assert "release-stock: the reservation is committed" in saga.message
    assert "OrderRejected: 404" in saga.message


def test_deadlines_expire_only_the_running_forward_step() -> None:
    saga = machine.begin(machine.start(T0), Step.RESERVE_STOCK, T0)
    assert machine.expired_step(saga, T0 + timedelta(seconds=29), DEADLINES) is None
    assert machine.expired_step(saga, T0 + timedelta(seconds=30), DEADLINES) is Step.RESERVE_STOCK
    assert machine.deadline_of(saga, DEADLINES) == T0 + timedelta(seconds=30)
    # A retried step keeps its first start: the deadline is per step, not per attempt.
    later = machine.begin(saga, Step.RESERVE_STOCK, T0 + timedelta(seconds=20))
    assert later.steps[Step.RESERVE_STOCK].started_at == T0
    done = through(RESERVED, AUTHORIZED, COMMITTED, COMPLETED)
    assert machine.expired_step(done, T0 + timedelta(days=1), DEADLINES) is None


def test_deadlines_per_step_kind() -> None:
    assert DEADLINES.of(Step.RESERVE_STOCK) == timedelta(seconds=30)
    assert DEADLINES.of(Step.AUTHORIZE_PAYMENT) == timedelta(seconds=60)
    assert DEADLINES.of(Step.COMMIT_RESERVATION) is None  # the pivot: resolved, never timed out
    assert DEADLINES.of(Step.VERIFY_ORDER) is None
    assert DEADLINES.of(Step.COMPLETE_ORDER) is None
    assert DEADLINES.of(Step.REFUND_PAYMENT) is None


@pytest.mark.parametrize(
    "late",
    [
        RESERVED,
        AUTHORIZED,
        Rejected(Step.RESERVE_STOCK, "late"),
        Unavailable(Step.COMPLETE_ORDER, "late"),
        PaymentConfirmed("p-2"),
        PaymentFailed("late"),
        ReservationExpired(),
        DeletionRequested(),
        DeadlineExpired(Step.AUTHORIZE_PAYMENT),
    ],
)
def test_nothing_changes_a_completed_saga(late: machine.Outcome) -> None:
    done = through(RESERVED, AUTHORIZED, COMMITTED, COMPLETED)
    assert machine.apply(done, late, T0 + timedelta(hours=1), LIMITS) == done


def test_signals_that_no_longer_matter_are_ignored() -> None:
    authorized = through(RESERVED, AUTHORIZED)
    assert machine.apply(authorized, PaymentFailed("late"), T0, LIMITS) == authorized
    assert machine.apply(authorized, PaymentConfirmed("p-1"), T0, LIMITS) == authorized
    committed = through(RESERVED, AUTHORIZED, COMMITTED)
    assert machine.apply(committed, ReservationExpired(), T0, LIMITS) == committed
    compensating = through(RESERVED, DeletionRequested())
    assert machine.apply(compensating, DeletionRequested(), T0, LIMITS) == compensating
    assert machine.apply(compensating, PaymentConfirmed("p"), T0, LIMITS) == compensating


def test_a_repeated_answer_for_a_finished_step_changes_nothing() -> None:
    saga = through(RESERVED, AUTHORIZED)
    assert machine.apply(saga, RESERVED, T0, LIMITS) == saga
    assert machine.apply(saga, Rejected(Step.RESERVE_STOCK, "late"), T0, LIMITS) == saga


def crashed_while_committing() -> Saga:
    """The commit was sent and the operator died before its reply: the status says Running."""
    saga = through(RESERVED, AUTHORIZED)
    return machine.begin(saga, Step.COMMIT_RESERVATION, T0)


def test_a_commit_in_doubt_is_never_compensated_by_a_deadline_or_a_deletion() -> None:
    saga = crashed_while_committing()
    assert machine.expired_step(saga, T0 + timedelta(days=1), DEADLINES) is None
    assert machine.deadline_of(saga, DEADLINES) is None
    assert machine.apply(saga, DeadlineExpired(Step.COMMIT_RESERVATION), T0, LIMITS) == saga
    assert machine.apply(saga, DeletionRequested(), T0, LIMITS) == saga
    assert machine.step_to_run(saga) is Step.COMMIT_RESERVATION  # asked again
    resolved = run(saga, COMMITTED)
    assert machine.past_pivot(resolved)
    assert run(resolved, COMPLETED).phase is Phase.COMPLETED


def test_a_commit_that_stays_unanswered_fails_the_saga_and_keeps_asking() -> None:
    saga = crashed_while_committing()
    for _ in range(LIMITS.forward):
        saga = machine.apply(saga, Unavailable(Step.COMMIT_RESERVATION, "timeout"), T0, LIMITS)
        saga = machine.begin(saga, Step.COMMIT_RESERVATION, T0)
    saga = machine.apply(saga, Unavailable(Step.COMMIT_RESERVATION, "timeout"), T0, LIMITS)
    assert (saga.phase, saga.reason) == (Phase.FAILED, Reason.INVENTORY_UNAVAILABLE)
    assert "only its answer can settle" in saga.message
    assert not saga.settled
    assert not any(saga.record(s) for s in machine.COMPENSATIONS)
    assert machine.step_to_run(saga) is Step.COMMIT_RESERVATION  # on the slow timer
    assert machine.apply(saga, DeletionRequested(), T0, LIMITS) == saga

    sold = run(saga, COMMITTED)
    assert (sold.phase, sold.reason, sold.message) == (Phase.PAYMENT_AUTHORIZED, "", "")
    assert machine.step_to_run(sold) is Step.COMPLETE_ORDER

    refused = run(saga, Rejected(Step.COMMIT_RESERVATION, "reservation expired"))
    assert (refused.phase, refused.reason) == (Phase.COMPENSATING, Reason.RESERVATION_EXPIRED)
    planned = [s for s in machine.COMPENSATIONS if refused.state_of(s) is StepState.PENDING]
    assert planned == [Step.REFUND_PAYMENT, Step.RELEASE_STOCK, Step.CANCEL_ORDER]


def test_an_expiry_settles_a_commit_in_doubt_as_not_sold() -> None:
    for saga in (crashed_while_committing(), _failed_while_committing()):
        expired = machine.apply(saga, ReservationExpired(), T0, LIMITS)
        assert (expired.phase, expired.reason) == (Phase.COMPENSATING, Reason.RESERVATION_EXPIRED)
        assert expired.state_of(Step.RELEASE_STOCK) is StepState.PENDING


def _failed_while_committing() -> Saga:
    saga = crashed_while_committing()
    for _ in range(LIMITS.forward):
        saga = machine.apply(saga, Unavailable(Step.COMMIT_RESERVATION, "503"), T0, LIMITS)
        saga = machine.begin(saga, Step.COMMIT_RESERVATION, T0)
    assert saga.phase is Phase.FAILED
    return saga
