"""Placing an order: the request's rules, pricing from catalog quotes, and the money bounds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.orders.domain import errors, events, model, money
from services.orders.domain.catalog import ProductQuote
from services.orders.domain.model import RequestedItem
from services.payments.domain import money as payments_money
from services.runtime import money as shared

T0 = datetime(2030, 1, 1, tzinfo=UTC)
QUOTES = {
    "SKU-1": ProductQuote("SKU-1", 1999, "EUR"),
    "SKU-2": ProductQuote("SKU-2", 500, "EUR"),
    "SKU-USD": ProductQuote("SKU-USD", 700, "USD"),
}


def place(lines: list[model.Line], **overrides: str) -> model.Order:
    fields = {"customer_id": "c-1", "currency": "EUR", "payment_method": "pm_card_visa"}
    fields.update(overrides)
    return model.Order.place(order_id=uuid.uuid4(), lines=lines, now=T0, **fields)


def test_a_placed_order_is_pending_with_its_total_and_one_created_entry() -> None:
    lines = model.price_items([RequestedItem("SKU-1", 2), RequestedItem("SKU-2", 3)], QUOTES, "EUR")
    order = place(list(lines))

    assert lines == (model.Line("SKU-1", 2, 1999), model.Line("SKU-2", 3, 500))
    assert order.amount == 2 * 1999 + 3 * 500
    assert order.phase is model.Phase.PENDING
    assert [(e.step, e.at, e.phase) for e in order.timeline] == [
        (model.Step.CREATED, T0, model.Phase.PENDING)
    ]
    assert order.events == [events.OrderPlaced(order.id)]
    assert order.created_at == order.updated_at == T0


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([], "1 to 100 lines, not 0"),
        ([RequestedItem(f"SKU-{n}", 1) for n in range(101)], "not 101"),
        ([RequestedItem("SKU-1", 0)], "quantity of 'SKU-1' must be 1 to 10000, not 0"),
        ([RequestedItem("SKU-1", -3)], "not -3"),
        ([RequestedItem("SKU-1", 10_001)], "not 10001"),
        (
            [RequestedItem("SKU-1", 1), RequestedItem("SKU-2", 1), RequestedItem("SKU-1", 2)],
            "SKU 'SKU-1' appears on more than one line",
        ),
    ],
)
def test_check_items_refuses_bad_requests(items: list[RequestedItem], problem: str) -> None:
    with pytest.raises(errors.OrderRejected) as refused:
        model.check_items(items)
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_check_items_accepts_the_limits() -> None:
    model.check_items([RequestedItem("SKU-1", 1)])
    model.check_items([RequestedItem(f"SKU-{n}", 10_000) for n in range(100)])


def test_unknown_skus_are_all_named() -> None:
    items = [RequestedItem("NOPE-2", 1), RequestedItem("SKU-1", 1), RequestedItem("NOPE-1", 1)]
    with pytest.raises(errors.UnknownSkus) as refused:
        model.price_items(items, QUOTES, "EUR")
    assert refused.value.skus == ("NOPE-1", "NOPE-2")


def test_a_product_in_another_currency_is_refused() -> None:
    items = [RequestedItem("SKU-1", 1), RequestedItem("SKU-USD", 1)]
    with pytest.raises(errors.CurrencyMismatch) as refused:
        model.price_items(items, QUOTES, "EUR")
    assert refused.value.mismatched == {"SKU-USD": "USD"}
    assert "'SKU-USD' is priced in USD, not EUR" in str(refused.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", ""),
        ("customer_id", "c" * 129),
        ("customer_id", "c\x00"),
        ("customer_id", "   "),
        ("customer_id", "\t\u3000\xa0"),
        ("payment_method", "pm\x00card"),
        ("payment_method", ""),
        ("payment_method", " "),
        ("payment_method", "pm card"),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "ÉUR"),
    ],
)
def test_place_refuses_bad_fields(field: str, value: str) -> None:
    with pytest.raises(errors.OrderRejected):
        place([model.Line("SKU-1", 1, 100)], **{field: value})


def test_a_total_over_the_money_range_is_refused_naming_the_amount() -> None:
    # Each line is within its bounds; their sum is one minor unit more than payments takes.
    lines = [model.Line("SKU-1", 1, money.MAX_AMOUNT), model.Line("SKU-2", 1, 1)]
    with pytest.raises(errors.AmountOutOfRange) as refused:
        place(lines)
    assert (refused.value.amount, refused.value.maximum) == (money.MAX_AMOUNT + 1, 99_999_999)
    assert f"total {money.MAX_AMOUNT + 1} minor units" in str(refused.value)
    assert "must be 1 to 99999999" in str(refused.value)


@pytest.mark.parametrize(
    "lines",
    [
        [model.Line("SKU-1", 1, 0)],  # nothing to charge: payments takes no zero payment
        [model.Line("SKU-1", 1, 0), model.Line("SKU-2", 10_000, 0)],
        [model.Line("SKU-1", 1, money.MAX_AMOUNT + 1)],  # one unit already costs too much
        [model.Line("SKU-1", 10_000, 10**12)],  # what orders accepted before the one range
    ],
)
def test_a_total_outside_the_money_range_is_refused(lines: list[model.Line]) -> None:
    with pytest.raises(errors.AmountOutOfRange) as refused:
        place(lines)
    assert refused.value.amount == sum(line.quantity * line.unit_price for line in lines)


@pytest.mark.parametrize(
    "lines",
    [
        [model.Line("SKU-1", 1, money.MAX_AMOUNT)],
        [model.Line("SKU-1", 3, 33_333_333)],
        [model.Line("SKU-1", 1, 1)],
        [model.Line("SKU-1", 1, 0), model.Line("SKU-2", 1, 1)],  # a free line in a paid order
    ],
)
def test_the_ends_of_the_money_range_are_accepted(lines: list[model.Line]) -> None:
    assert place(lines).amount == sum(line.quantity * line.unit_price for line in lines)


def test_the_orders_range_is_the_payments_range() -> None:
    assert (money.MIN_AMOUNT, money.MAX_AMOUNT) == (shared.MIN_AMOUNT, shared.MAX_AMOUNT)
    assert (payments_money.MIN_AMOUNT, payments_money.MAX_AMOUNT) == (1, 99_999_999)


@pytest.mark.parametrize(("quantity", "unit_price"), [(0, 1), (10_001, 1), (1, -1)])
def test_line_total_refuses_out_of_range(quantity: int, unit_price: int) -> None:
    with pytest.raises(money.AmountOutOfRange):
        money.line_total(quantity, unit_price)
