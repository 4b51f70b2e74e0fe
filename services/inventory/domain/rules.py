"""The reservation rules, as pure functions: what a valid request is and whether it fits.

``check_lines`` is a request's own rules (checked before any stock is read); ``decide`` is the
all-or-nothing decision over the stock the service layer locked: every line fits or the
whole request is refused, with the reason for each line that does not. ``crosses_threshold``
says when a product's available stock has just reached its low-stock threshold. The
``Reservation`` aggregate and the seed loader use them; the HTTP schemas repeat the bounds.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.inventory.domain import errors

MAX_QUANTITY = 10_000
MAX_LINES = 100
MAX_SKU_LENGTH = 64
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # the events' Sku, so every SKU can be published
_SKU = re.compile(SKU_PATTERN)


@dataclass(frozen=True, order=True)
class Line:
    """One requested (or reserved) line: a SKU and how many."""

    sku: str
    quantity: int


class ShortageReason(enum.StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"


@dataclass(frozen=True)
class Shortage:
    """A line that cannot be reserved; ``available`` is 0 for an unknown SKU."""

    sku: str
    requested: int
    available: int
    reason: ShortageReason


def valid_sku(sku: str) -> bool:
    return len(sku) <= MAX_SKU_LENGTH and _SKU.fullmatch(sku) is not None


def check_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """The lines sorted by SKU, or ``InvalidRequest`` listing every rule they break.

    A SKU on two lines is refused rather than merged: the orders service refuses it too, so
    it can only come from a client bug, and the stored lines stay exactly the request's.
    """
    problems = []
    if not 1 <= len(lines) <= MAX_LINES:
        problems.append(f"a reservation has 1 to {MAX_LINES} lines, not {len(lines)}")
    for line in lines:
        if not valid_sku(line.sku):
            problems.append(f"{line.sku[:80]!r} is not a valid SKU")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            problems.append(
                f"quantity of {line.sku[:80]!r} must be 1 to {MAX_QUANTITY}, not {line.quantity}"
            )
    repeated = sorted(sku for sku, n in Counter(line.sku for line in lines).items() if n > 1)
    problems.extend(f"SKU {sku!r} appears on more than one line" for sku in repeated)
    if problems:
        raise errors.InvalidRequest(problems)
    return tuple(sorted(lines))


def decide(lines: Sequence[Line], available: Mapping[str, int]) -> tuple[Shortage, ...]:
    """The shortages of ``lines`` given each known SKU's available stock; empty means all fit.

    A SKU missing from ``available`` is unknown. The caller holds the stock it passes here
    (locked), so the answer stays true until it commits.
    """
    shortages = []
    for line in sorted(lines):
        if line.sku not in available:
            shortages.append(Shortage(line.sku, line.quantity, 0, ShortageReason.UNKNOWN_SKU))
        elif available[line.sku] < line.quantity:
            shortages.append(
                Shortage(line.sku, line.quantity, available[line.sku], ShortageReason.OUT_OF_STOCK)
            )
    return tuple(shortages)


def crosses_threshold(before: int, after: int, threshold: int) -> bool:
    """True when available stock goes from above ``threshold`` to at or below it.

    Only the move that crosses counts, so a product that stays low raises no second alert
    until it has been restocked (or stock came back) above the threshold and crosses again.
    """
    return before > threshold >= after
