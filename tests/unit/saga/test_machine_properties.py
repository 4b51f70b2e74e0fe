"""Property tests: the machine against a model of the three services, under any interleaving.

Hypothesis picks how the services answer (stock or not, card approved, declined or waiting
for 3-D Secure) and a script of disturbances: transient failures, replies lost after the
effect happened, operator crashes (the saga is rebuilt from its written status), duplicated
answers, late webhooks, deadlines passing and deletion. Then the services recover and the
saga runs to the end. Whatever happened, the end must be consistent: a completed order is
paid and its stock sold; any other order keeps no money and holds no stock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.saga import machine, status
from operators.saga.machine import Phase, Saga, Step, StepState

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = machine.RetryLimits(forward=4, compensation=3)
DEADLINES = machine.Deadlines()


@dataclass
class Services:
    """What inventory, payments and orders hold for the one order (idempotent, like theirs)."""

    in_stock: bool
    card: str  # approve | decline | pending
    known: bool = True  # does orders know the order? An Order made by hand: no
    stock: str = "none"  # none | reserved | committed | released | rejected
    payment: str = "none"  # none | authorized | pending | declined | refunded
    order: str = "open"  # open | completed | cancelled
    authorizations: int = 0
    log: list[str] = field(default_factory=list)

    def perform(self, step: Step) -> machine.Outcome:
        self.log.append(str(step))
        if step is Step.RESERVE_STOCK:
            if self.stock == "released":
                return machine.Rejected(step, "closed", machine.Reason.RESERVATION_REJECTED)
            if self.stock == "none":
                self.stock = "reserved" if self.in_stock else "rejected"
            if self.stock == "rejected":
                return machine.Rejected(step, "out of stock")
            return machine.Succeeded(step, "r-1")
        if step is Step.AUTHORIZE_PAYMENT:
            if self.payment == "refunded":
                return machine.Rejected(step, "compensated before payment")
            if self.payment == "none":
                self.payment = {"approve": "authorized", "decline": "declined"}.get(
                    self.card, "pending"
                )
                self.authorizations += self.payment == "authorized"
            if self.payment == "declined":
                return machine.Rejected(step, "declined")
            if self.payment == "pending":
                return machine.Pending(step)
            return machine.Succeeded(step, "p-1")
        if step is Step.COMMIT_RESERVATION:
            if self.stock in ("reserved", "committed"):
                self.stock = "committed"
                return machine.Succeeded(step)
            return machine.Rejected(step, "reservation closed")
        if step is Step.COMPLETE_ORDER:
            if not self.known:
                return machine.Rejected(step, "404: no such order")
            if self.order == "cancelled":
                return machine.Rejected(step, "cancelled")
            self.order = "completed"
            return machine.Succeeded(step)
        if step is Step.REFUND_PAYMENT:
            if self.payment in ("none", "authorized", "pending"):
                self.payment = "refunded"
            return machine.Succeeded(step)
        if step is Step.RELEASE_STOCK:
            if self.stock == "committed":
                return machine.Rejected(step, "committed")
            if self.stock in ("none", "reserved"):
                self.stock = "released"
            return machine.Succeeded(step)
        if not self.known:
            return machine.Succeeded(step)  # nothing to cancel: orders answers 404
        if self.order == "completed":
            return machine.Rejected(step, "completed")
        self.order = "cancelled"
        return machine.Succeeded(step)

    def confirm_3ds(self, ok: bool) -> machine.Outcome | None:
        """The customer finishes 3-D Secure: the webhook's event, if the payment waited."""
        if self.payment != "pending":
            return None
        self.payment = "authorized" if ok else "declined"
        self.authorizations += ok
        return machine.PaymentConfirmed("p-1") if ok else machine.PaymentFailed("3DS failed")


def restart(saga: Saga, now: datetime) -> Saga:
    """What a new operator reads back: the saga through its status and back."""
    written = status.status_of(saga, previous_conditions=[], generation=1, now=now)
    return status.saga_of(written, now)


DISTURBANCES = st.sampled_from(
    [
        "step",
        "step",
        "step",
        "transient",
        "lost-reply",
        "crash",
        "duplicate",
        "3ds-ok",
        "3ds-fail",
        "deadline",
        "delete",
        "expire",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    in_stock=st.booleans(),
    card=st.sampled_from(["approve", "decline", "pending"]),
    known=st.booleans(),
    script=st.lists(DISTURBANCES, max_size=40),
)
def test_every_saga_ends_consistent(
    in_stock: bool, card: str, known: bool, script: list[str]
) -> None:
    world = Services(in_stock=in_stock, card=card, known=known)
    now = T0
    saga = machine.start(now)
    last: machine.Outcome | None = None
    for move in script:
        now += timedelta(seconds=1)
        before = saga
        step = machine.step_to_run(saga)
        if move in ("step", "transient", "lost-reply", "crash") and step is not None:
            saga = machine.begin(saga, step, now)
            if move == "transient":
                last = machine.Unavailable(step, "503")
            elif move == "lost-reply":
                world.perform(step)
                last = machine.Unavailable(step, "timeout after the effect")
            elif move == "crash":
                world.perform(step)
                saga = restart(saga, now)
                continue
            else:
                last = world.perform(step)
            saga = machine.apply(saga, last, now, LIMITS)
        elif move == "duplicate" and last is not None:
            saga = machine.apply(saga, last, now, LIMITS)
        elif move in ("3ds-ok", "3ds-fail"):
            signal = world.confirm_3ds(move == "3ds-ok")
            if signal is not None:
                saga = machine.apply(saga, signal, now, LIMITS)
        elif move == "deadline":
            now += timedelta(minutes=2)
            expired = machine.expired_step(saga, now, DEADLINES)
            if expired is not None:
                saga = machine.apply(saga, machine.DeadlineExpired(expired), now, LIMITS)
        elif move == "delete":
            saga = machine.apply(saga, machine.DeletionRequested(), now, LIMITS)
        elif move == "expire" and world.stock == "reserved":
            world.stock = "released"  # the sweeper's expiry also returns the stock
            saga = machine.apply(saga, machine.ReservationExpired(), now, LIMITS)
        if before.settled:
            assert saga == before, f"a settled saga changed on {move}"

    # The services recover: run to the end, letting waits hit their deadline.
    for _ in range(40):
        if saga.settled:
            break
        now += timedelta(seconds=1)
        step = machine.step_to_run(saga)
        if step is None:
            now += timedelta(minutes=2)
            expired = machine.expired_step(saga, now, DEADLINES)
            assert expired is not None, f"{saga.phase} waits with no deadline"
            saga = machine.apply(saga, machine.DeadlineExpired(expired), now, LIMITS)
            continue
        saga = machine.begin(saga, step, now)
        saga = machine.apply(saga, world.perform(step), now, LIMITS)
    assert saga.settled, f"not settled: {saga.phase} after {world.log}"
    assert restart(saga, now) == saga

    assert world.authorizations <= 1
    if machine.past_pivot(saga) and world.known:
        assert saga.phase is Phase.COMPLETED, "the stock was sold, yet the order did not complete"
    if saga.phase is Phase.COMPLETED:
        assert (world.stock, world.payment, world.order) == ("committed", "authorized", "completed")
    else:
        assert world.payment != "authorized", "money kept for an order that did not complete"
        assert world.stock != "reserved", "stock held for an order that did not complete"
        if saga.phase is Phase.CANCELLED:
            assert world.order == ("cancelled" if known else "open")
            assert world.stock != "committed", "stock sold for a cancelled order"
        else:
            # Failed: a compensation was refused, e.g. sold stock that inventory cannot take
            # back. The status says which, so a human sees what is left to undo.
            assert saga.reason == machine.Reason.COMPENSATION_REFUSED
            if world.stock == "committed":
                assert saga.state_of(Step.RELEASE_STOCK) is StepState.SKIPPED
                assert str(Step.RELEASE_STOCK) in saga.message


@settings(max_examples=200, deadline=None)
@given(script=st.lists(DISTURBANCES, max_size=25))
def test_the_status_round_trip_loses_nothing_at_any_point(script: list[str]) -> None:
    world = Services(in_stock=True, card="approve")
    now, saga = T0, machine.start(T0)
    for move in script:
        now += timedelta(seconds=1)
        step = machine.step_to_run(saga)
        if step is not None and move != "delete":
            saga = machine.begin(saga, step, now)
            saga = machine.apply(saga, world.perform(step), now, LIMITS)
        elif move == "delete":
            saga = machine.apply(saga, machine.DeletionRequested(), now, LIMITS)
        assert restart(saga, now) == saga
