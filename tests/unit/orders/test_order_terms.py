"""An Order's terms against the order placed: the check that keeps hand-made Orders from
taking stock or money (``verify-order``, the saga's first step)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.orders.domain import model

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LINES = (model.Line("SKU-1", 2, 1999), model.Line("SKU-2", 1, 500))
ORDER = model.Order.place(
    order_id=uuid.uuid4(),
    customer_id="c-1",
    lines=LINES,
    currency="EUR",
    payment_method="pm_card_visa",
    now=T0,
)
TERMS = model.Terms(
    customer_id="c-1", lines=LINES, currency="EUR", amount=4498, payment_method="pm_card_visa"
)


def test_the_terms_an_order_was_placed_on_agree_in_any_line_order() -> None:
    assert ORDER.differences(TERMS) == []
    assert ORDER.differences(replace(TERMS, lines=tuple(reversed(LINES)))) == []


@pytest.mark.parametrize(
    ("terms", "named"),
    [
        (replace(TERMS, customer_id="c-2"), "customerId"),
        (replace(TERMS, payment_method="pm_card_chargeDeclined"), "paymentMethod"),
        (replace(TERMS, amount=1), "amount is 1 EUR, the order's is 4498 EUR"),
        (replace(TERMS, currency="USD"), "amount is 4498 USD"),
        (replace(TERMS, lines=LINES[:1]), "items"),
        (replace(TERMS, lines=(model.Line("SKU-1", 3, 1999), LINES[1])), "items"),
        (replace(TERMS, lines=(model.Line("SKU-1", 2, 1), LINES[1])), "items"),
    ],
)
def test_each_difference_is_named(terms: model.Terms, named: str) -> None:
    found = ORDER.differences(terms)
    assert len(found) == 1
    assert named in found[0]


def test_every_difference_is_listed_at_once() -> None:
    terms = model.Terms(customer_id="x", lines=(), currency="USD", amount=0, payment_method="pm")
    assert len(ORDER.differences(terms)) == 4
