"""The reservation rules: request validation, the all-or-nothing decision, threshold crossing."""

from __future__ import annotations

import pytest

from services.inventory.domain import errors, rules
from services.inventory.domain.rules import Line, Shortage, ShortageReason

OUT = ShortageReason.OUT_OF_STOCK
UNKNOWN = ShortageReason.UNKNOWN_SKU


@pytest.mark.parametrize(
    ("lines", "problems"),
    [
        ([], ["a reservation has 1 to 100 lines, not 0"]),
        ([Line(f"S-{i}", 1) for i in range(101)], ["a reservation has 1 to 100 lines, not 101"]),
        ([Line("A", 0)], ["quantity of 'A' must be 1 to 10000, not 0"]),
        ([Line("A", -3)], ["quantity of 'A' must be 1 to 10000, not -3"]),
        ([Line("A", 10_001)], ["quantity of 'A' must be 1 to 10000, not 10001"]),
        ([Line("", 1)], ["'' is not a valid SKU"]),
        ([Line("-A", 1)], ["'-A' is not a valid SKU"]),
        ([Line("A B", 1)], ["'A B' is not a valid SKU"]),
        ([Line("Ä", 1)], ["'Ä' is not a valid SKU"]),
        ([Line("A" * 65, 1)], [f"{'A' * 65!r} is not a valid SKU"]),
        ([Line("A", 1), Line("A", 2)], ["SKU 'A' appears on more than one line"]),
        (
            [Line("B", 0), Line("B", 1), Line("a/b", 2)],
            [
                "quantity of 'B' must be 1 to 10000, not 0",
                "'a/b' is not a valid SKU",
                "SKU 'B' appears on more than one line",
            ],
        ),
    ],
)
def test_check_lines_names_every_broken_rule(lines: list[Line], problems: list[str]) -> None:
    with pytest.raises(errors.InvalidRequest) as raised:
        rules.check_lines(lines)
    assert list(raised.value.problems) == problems


@pytest.mark.parametrize(
    "lines",
    [
        [Line("A", 1)],
        [Line("A" * 64, 10_000)],
        [Line("sku-1.a_B", 5), Line("0", 1)],
        [Line(f"S-{i:03}", 1) for i in range(100)],
    ],
)
def test_check_lines_accepts_valid_requests_and_sorts_them_by_sku(lines: list[Line]) -> None:
    assert rules.check_lines(lines) == tuple(sorted(lines, key=lambda line: line.sku))


@pytest.mark.parametrize(
    ("lines", "available", "shortages"),
    [
        ([Line("A", 2)], {"A": 2}, []),
        ([Line("A", 2), Line("B", 1)], {"A": 5, "B": 1}, []),
        ([Line("A", 3)], {"A": 2}, [Shortage("A", 3, 2, OUT)]),
        ([Line("A", 1)], {"A": 0}, [Shortage("A", 1, 0, OUT)]),
        ([Line("A", 1)], {}, [Shortage("A", 1, 0, UNKNOWN)]),
        (
            [Line("C", 1), Line("A", 9), Line("B", 1)],
            {"A": 1, "B": 1},
            [Shortage("A", 9, 1, OUT), Shortage("C", 1, 0, UNKNOWN)],
        ),
    ],
)
def test_decide_reports_every_line_that_does_not_fit_in_sku_order(
    lines: list[Line], available: dict[str, int], shortages: list[Shortage]
) -> None:
    assert list(rules.decide(lines, available)) == shortages


@pytest.mark.parametrize(
    ("before", "after", "threshold", "crossed"),
    [
        (10, 5, 5, True),  # lands on it
        (10, 4, 5, True),  # jumps past it
        (6, 0, 5, True),
        (6, 5, 5, True),
        (5, 4, 5, False),  # was already at it: no second alert
        (4, 3, 5, False),
        (10, 6, 5, False),  # still above
        (1, 0, 0, True),  # threshold 0 alerts on running out
        (0, 0, 0, False),
        (5, 5, 5, False),
    ],
)
def test_crosses_threshold_only_on_the_move_that_reaches_it(
    before: int, after: int, threshold: int, crossed: bool
) -> None:
    assert rules.crosses_threshold(before, after, threshold) is crossed
