"""Money checks: integer minor units from 1 to Stripe's eight digits, three capital letters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payments.domain import money


@pytest.mark.parametrize(
    ("amount", "currency", "problems"),
    [
        (1, "EUR", 0),
        (99_999_999, "USD", 0),
        (0, "EUR", 1),
        (-5, "EUR", 1),
        (100_000_000, "EUR", 1),
        (10**30, "EUR", 1),
        (12.5, "EUR", 1),
        (True, "EUR", 1),
        ("100", "EUR", 1),
        (100, "eur", 1),
        (100, "EU", 1),
        (100, "EURO", 1),
        (100, "E1R", 1),
        (100, "ÉUR", 1),
        (100, None, 1),
        (0, "eur", 2),
    ],
)
def test_problems(amount: object, currency: object, problems: int) -> None:
    assert len(money.problems(amount, currency)) == problems


@given(st.integers(), st.from_regex(r"[A-Z]{3}", fullmatch=True))
def test_an_amount_is_valid_exactly_within_bounds(amount: int, currency: str) -> None:
    valid = money.MIN_AMOUNT <= amount <= money.MAX_AMOUNT
    assert (money.problems(amount, currency) == []) is valid


@given(st.text(max_size=5))
def test_a_currency_is_valid_exactly_when_three_ascii_capitals(currency: str) -> None:
    valid = len(currency) == 3 and all("A" <= c <= "Z" for c in currency)
    assert (money.problems(100, currency) == []) is valid


def test_describe() -> None:
    assert money.describe(1999, "EUR") == "1999 EUR"
