"""Property tests: the machine against a model of the three services, under any interleaving.

Hypothesis picks how the services answer (stock or not, card approved, declined or waiting
for 3-D Secure; an order orders never placed, i.e. an Order made by hand) and a script of
disturbances: transient failures, replies lost after the effect happened, operator crashes at
every step both before the request left and after it took effect but before its reply (the
saga is rebuilt from its written status), duplicated answers, late webhooks, deadlines passing
and deletion. Then the services recover and the saga runs to the end. Whatever happened, the
end must be consistent: a completed order is paid and its stock sold; any other order keeps
no money and holds no stock; sold stock always belongs to a completed order; and an order
orders never placed touches neither stock nor money.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.saga import machine, status
from operators.saga.machine import Phase, Saga, Step

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
        if step is Step.VERIFY_ORDER:
            if self.known:
                return machine.Succeeded(step)
            return machine.Rejected(step, "404: no such order")
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
        "crash-before-request",
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
    saga, now = play(world, script)
    saga, now = recover(world, saga, now)
    assert_consistent(world, saga, now)


CRASHES = ("crash", "crash-before-request", "lost-reply")
AFTERMATHS = ("deadline", "delete", "expire", "3ds-ok", "3ds-fail", "step")


@pytest.mark.parametrize("card", ["approve", "pending"])
@pytest.mark.parametrize("crash", CRASHES)
@pytest.mark.parametrize("at", range(len(machine.FORWARD)))
def test_a_crash_at_every_step_then_anything_ends_consistent(
    card: str, crash: str, at: int
) -> None:
    """Exhaustive where the random scripts are thin: the operator dies at each forward step
    (before its request, or after its effect and before the reply), then any two of the
    things that can happen next, e.g. the step's deadline passes and the Order is deleted.
    An unknown pivot must be resolved by asking again, never compensated."""
    for aftermath in itertools.product(AFTERMATHS, repeat=2):
        world = Services(in_stock=True, card=card)
        prefix = ["step"] * at  # the steps before the one the crash hits
        if card == "pending" and at > 3:  # verify, reserve, authorize; the customer confirms
            prefix.insert(3, "3ds-ok")
        saga, now = play(world, [*prefix, crash, *aftermath])
        saga, now = recover(world, saga, now)
        assert_consistent(world, saga, now)


def play(world: Services, script: list[str]) -> tuple[Saga, datetime]:
    """Run the script of disturbances against a new saga."""
    now = T0
    saga = machine.start(now)
    last: machine.Outcome | None = None
    for move in script:
        now += timedelta(seconds=1)
        before = saga
        step = machine.step_to_run(saga)
        if move in ("step", "transient", "lost-reply", *CRASHES) and step is not None:
            saga = machine.begin(saga, step, now)
            if move == "crash-before-request":
                saga = restart(saga, now)
                continue
            if move == "transient":
                last = machine.Unavailable(step, "503")
            elif move == "lost-reply":
                world.perform(step)
                last = machine.Unavailable(step, "timeout after the effect")
            elif move == "crash":  # after the effect, before the reply
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
    return saga, now


def recover(world: Services, saga: Saga, now: datetime) -> tuple[Saga, datetime]:
    """The services recover: run to the end, letting waits hit their deadline."""
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
    return saga, now


def assert_consistent(world: Services, saga: Saga, now: datetime) -> None:
    assert restart(saga, now) == saga
    assert world.authorizations <= 1
    if not world.known:
        assert (world.stock, world.payment) == ("none", "none"), "a hand-made Order took something"
        assert saga.phase is Phase.CANCELLED  # UnknownOrder, or Deleted before orders answered
    if world.stock == "committed":
        assert saga.phase is Phase.COMPLETED, "the stock was sold, yet the order did not complete"
    if saga.phase is Phase.COMPLETED:
        assert (world.stock, world.payment, world.order) == ("committed", "authorized", "completed")
    else:
        assert world.payment != "authorized", "money kept for an order that did not complete"
        assert world.stock != "reserved", "stock held for an order that did not complete"
        if saga.phase is Phase.CANCELLED:
            assert world.order == ("cancelled" if world.known else "open")
        else:
            # Failed: a compensation was refused (orders refusing to cancel, say). The status
            # says which, so a human sees what is left to undo.
            assert saga.reason == machine.Reason.COMPENSATION_REFUSED


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
