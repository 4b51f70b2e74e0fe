"""The chaos harness's invariants: each one silent on a healthy run, and naming each violation.

A healthy run is built first (every kind of order ended as it should); each test breaks one
thing, the way issue 10's runs saw it break, and expects exactly that invariant to say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from tests.bench.chaos import invariants
from tests.bench.chaos.invariants import (
    DeadLetter,
    Evidence,
    FaultOutcome,
    OrderRow,
    OrderView,
    StockRow,
)

DONE = "00000000-0000-4000-8000-000000000001"  # completed: 2 BEANS
DECLINED = "00000000-0000-4000-8000-000000000002"  # cancelled, payment failed, stock released
NO_STOCK = "00000000-0000-4000-8000-000000000003"  # cancelled before any payment
FORGED = "00000000-0000-4000-8000-000000000004"  # hand-made, refused before any effect


def healthy() -> Evidence:
    return Evidence(
        orders={
            DONE: OrderRow("Completed", "", (("BEANS", 2),)),
            DECLINED: OrderRow("Cancelled", "PaymentDeclined", (("BEANS", 1),)),
            NO_STOCK: OrderRow("Cancelled", "OutOfStock", (("SCARCE", 1),)),
        },
        resources={
            DONE: OrderView("Completed", ""),
            DECLINED: OrderView("Cancelled", "PaymentDeclined"),
            NO_STOCK: OrderView("Cancelled", "OutOfStock"),
            FORGED: OrderView("Cancelled", "OrderUnknown", gone=True, terminating_for=1.5),
        },
        forged=frozenset({FORGED}),
        payments={DONE: ("authorized",), DECLINED: ("failed",)},
        reservations={DONE: "committed", DECLINED: "released", NO_STOCK: "rejected"},
        stock={
            "BEANS": StockRow(
                available=98, reserved=0, committed=2, stocked=100, lowest_available=95
            ),
            "SCARCE": StockRow(available=0, reserved=0, committed=0, stocked=0, lowest_available=0),
        },
        faults=(FaultOutcome("operator @ 10.0s", recovered=True, resume_worst=2.0),),
    )


def failing(evidence: Evidence) -> Mapping[str, tuple[str, ...]]:
    return {v.name: v.violations for v in invariants.check(evidence) if v.violations}


def test_a_healthy_run_violates_nothing() -> None:
    assert failing(healthy()) == {}
    assert [v.name for v in invariants.check(healthy())] == [n for n, _, _ in invariants.INVARIANTS]


def with_orders(**changes: OrderRow) -> dict[str, OrderRow]:
    return {**healthy().orders, **changes}


def with_views(**changes: OrderView) -> dict[str, OrderView]:
    return {**healthy().resources, **changes}


def test_the_pivot_leak_of_issue_10_breaks_money_stock_and_agreement() -> None:
    """Operator killed after commit; the deadline compensated: refund, release refused, cancel."""
    broken = dataclasses.replace(
        healthy(),
        orders=with_orders(**{DONE: OrderRow("Cancelled", "InventoryTimeout", (("BEANS", 2),))}),
        resources=with_views(**{DONE: OrderView("Failed", "CompensationRefused")}),
        payments={**healthy().payments, DONE: ("refunded",)},
    )
    found = failing(broken)
    assert set(found) == {"terminal", "stock-sold", "phases-agree"}
    assert found["terminal"] == (f"{DONE}: Order is Failed CompensationRefused",)
    assert found["stock-sold"] == (
        "BEANS: 2 committed, completed orders bought 0",
        f"{DONE}: stock sold for an order that did not complete",
    )
    assert found["phases-agree"] == (
        f"{DONE}: orders says Cancelled/InventoryTimeout, the Order Failed/CompensationRefused",
    )


def test_a_forged_order_that_sells_stock_is_named() -> None:
    broken = dataclasses.replace(
        healthy(),
        resources=with_views(**{FORGED: OrderView("Failed", "CompensationRefused", gone=True)}),
        payments={**healthy().payments, FORGED: ("refunded",)},
        reservations={**healthy().reservations, FORGED: "committed"},
        stock={
            **healthy().stock,
            "BEANS": StockRow(97, 0, 3, stocked=100, lowest_available=95),
        },
    )
    found = failing(broken)
    assert found["terminal"] == (f"{FORGED}: deleted while Failed CompensationRefused",)
    assert f"{FORGED}: stock sold for an order that did not complete" in found["stock-sold"]
    assert "phases-agree" not in found  # orders never heard of it: nothing to disagree with
    assert "money" not in found  # refunded: no money kept


def test_a_forged_order_that_completes_disagrees_with_orders() -> None:
    broken = dataclasses.replace(
        healthy(), resources=with_views(**{FORGED: OrderView("Completed", "")})
    )
    assert failing(broken)["phases-agree"] == (
        f"{FORGED}: an Order orders never heard of completed",
    )


def test_an_unknown_order_that_was_not_forged_is_named() -> None:
    stray = "00000000-0000-4000-8000-0000000000ff"
    broken = dataclasses.replace(
        healthy(), resources=with_views(**{stray: OrderView("Cancelled", "X")})
    )
    assert failing(broken)["phases-agree"] == (
        f"{stray}: an Order orders never heard of (Cancelled)",
    )


@pytest.mark.parametrize(
    ("row", "view", "named"),
    [
        (OrderRow("Pending", "", ()), OrderView("Completed", ""), "orders says Pending"),
        (None, OrderView("PaymentPending", ""), "Order is PaymentPending"),
        (None, OrderView("StockReserved", "", gone=True), "deleted while StockReserved"),
        (OrderRow("Completed", "", (("BEANS", 2),)), None, "no Order was ever seen"),
    ],
)
def test_an_unsettled_order_is_named_in_either_store(
    row: OrderRow | None, view: OrderView | None, named: str
) -> None:
    orders, views = dict(healthy().orders), dict(healthy().resources)
    if row is not None:
        orders[DONE] = row
    if view is None:
        del views[DONE]
    else:
        views[DONE] = view
    found = failing(dataclasses.replace(healthy(), orders=orders, resources=views))
    assert found["terminal"] == (f"{DONE}: {named}",)


@pytest.mark.parametrize(
    ("payments", "named"),
    [
        ({DONE: ("failed",)}, f"{DONE}: completed without money kept ['failed']"),
        ({DONE: ()}, f"{DONE}: completed without money kept []"),
        (
            {DONE: ("authorized",), DECLINED: ("authorized",)},
            f"{DECLINED}: money kept for an order that did not complete",
        ),
        ({DONE: ("authorized",), DECLINED: ("pending",)}, f"{DECLINED}: a payment left pending"),
    ],
)
def test_money_is_kept_exactly_for_completed_orders(
    payments: dict[str, tuple[str, ...]], named: str
) -> None:
    found = failing(dataclasses.replace(healthy(), payments=payments))
    assert found["money"] == (named,)


def test_two_payments_for_one_order_are_named() -> None:
    found = failing(
        dataclasses.replace(healthy(), payments={DONE: ("authorized",), DECLINED: ("failed",) * 2})
    )
    assert found["one-payment"] == (f"{DECLINED}: 2 payments ['failed', 'failed']",)


def test_a_completed_order_whose_reservation_was_not_committed_is_named() -> None:
    found = failing(
        dataclasses.replace(healthy(), reservations={**healthy().reservations, DONE: "expired"})
    )
    assert found["stock-sold"] == (f"{DONE}: completed, its reservation is expired",)


@pytest.mark.parametrize(
    ("row", "named"),
    [
        (StockRow(98, 0, 2, 100, lowest_available=-1), "BEANS: available fell to -1"),
        (StockRow(99, 0, 2, 100, lowest_available=95), "BEANS: 101 units counted, 100 stocked"),
    ],
)
def test_stock_never_goes_negative_and_no_unit_is_made(row: StockRow, named: str) -> None:
    found = failing(dataclasses.replace(healthy(), stock={**healthy().stock, "BEANS": row}))
    assert found["stock-available"] == (named,)


def test_stock_still_reserved_after_the_run_is_held() -> None:
    broken = dataclasses.replace(
        healthy(),
        stock={**healthy().stock, "BEANS": StockRow(97, 1, 2, 100, lowest_available=95)},
        reservations={**healthy().reservations, DECLINED: "reserved"},
    )
    assert failing(broken)["stock-held"] == (
        "BEANS: 1 units still reserved",
        f"{DECLINED}: reservation still holds stock",
    )


def test_cancelled_for_different_reasons_is_a_disagreement() -> None:
    broken = dataclasses.replace(
        healthy(), resources=with_views(**{DECLINED: OrderView("Cancelled", "PaymentTimeout")})
    )
    assert failing(broken)["phases-agree"] == (
        f"{DECLINED}: orders says Cancelled/PaymentDeclined, the Order Cancelled/PaymentTimeout",
    )


@pytest.mark.parametrize(("seconds", "violated"), [(60.0, False), (60.5, True)])
def test_an_order_terminating_over_a_minute_is_named(seconds: float, violated: bool) -> None:
    view = OrderView("Cancelled", "OrderUnknown", gone=True, terminating_for=seconds)
    found = failing(dataclasses.replace(healthy(), resources=with_views(**{FORGED: view})))
    assert ("terminating" in found) is violated


def test_dead_letters_count_unless_about_a_forged_order() -> None:
    letters = (
        DeadLetter(
            "p.kubesaga.payments.dlq.orders-x",
            DONE,
            "payment.authorized",
            "exhausted",
            "RuntimeError: db down",
        ),
        DeadLetter(
            "p.kubesaga.orders.dlq.saga-bridge-x", FORGED, "order.created", "permanent", "refused"
        ),
    )
    found = failing(dataclasses.replace(healthy(), dead_letters=letters))
    assert found["dead-letters"] == (
        f"{DONE}: payment.authorized on p.kubesaga.payments.dlq.orders-x (exhausted: "
        "RuntimeError: db down)",
    )


def test_a_fault_that_never_recovered_and_a_slow_take_over_are_named() -> None:
    faults = (
        FaultOutcome("kafka @ 5.0s", recovered=False),
        FaultOutcome(
            "operator @ 20.0s", recovered=True, resume_worst=41.0, resume_worst_order=DONE
        ),
        FaultOutcome("operator @ 40.0s", recovered=True, resume_worst=10.0),  # at the bound
        FaultOutcome("redis @ 60.0s", recovered=True, resume_worst=None),  # not bounded
    )
    found = failing(dataclasses.replace(healthy(), faults=faults))
    assert found["faults-recovered"] == ("kafka @ 5.0s: did not recover",)
    assert found["sagas-resume"] == (
        f"operator @ 20.0s: {DONE} moved again only 41.0s after the restart",
    )
