"""The three stock moves: hold, unhold and sell conserve the total and refuse to go negative."""

from __future__ import annotations

import pytest

from services.inventory.domain import errors
from services.inventory.domain.stock import Price, Product


def product(available: int = 10, *, reserved: int = 0, threshold: int = 3) -> Product:
    return Product(
        sku="A",
        name="A",
        price=Price(100, "EUR"),
        available=available,
        low_stock_threshold=threshold,
        reserved=reserved,
    )


def counts(p: Product) -> tuple[int, int, int]:
    return p.available, p.reserved, p.committed


def test_hold_moves_available_to_reserved_and_reports_the_threshold_crossing() -> None:
    p = product(10, threshold=3)
    assert p.hold(6) is False
    assert counts(p) == (4, 6, 0)
    assert p.hold(1) is True  # 4 -> 3: reaches the threshold
    assert p.hold(1) is False  # already below: once per crossing
    assert counts(p) == (2, 8, 0)
    assert p.total == 10


def test_unhold_and_sell_move_reserved_stock_back_or_out() -> None:
    p = product(10)
    p.hold(8)
    p.unhold(3)
    p.sell(4)
    assert counts(p) == (5, 1, 4)
    assert p.total == 10


@pytest.mark.parametrize(
    ("move", "quantity"),
    [("hold", 11), ("hold", 0), ("hold", -1), ("unhold", 3), ("unhold", 0), ("sell", 3)],
)
def test_a_move_past_the_counts_is_refused_and_changes_nothing(move: str, quantity: int) -> None:
    p = product(10, reserved=2)
    with pytest.raises(errors.StockInvariantBroken):
        getattr(p, move)(quantity)
    assert counts(p) == (10, 2, 0)
