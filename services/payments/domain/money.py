"""Money checks for a payment: integer minor units within the money range, an ISO-like currency.

Called by ``Payment.start`` (and so by the service layer before any provider is asked). The
range is kubesaga's one money range (``services.runtime.money``: Stripe's eight digits of
minor units), the same orders enforces on an order's total: an amount outside it is a client
bug, and refusing it here keeps it from ever reaching a provider.
"""

from __future__ import annotations

import re

from services.runtime.money import MAX_AMOUNT as MAX_AMOUNT
from services.runtime.money import MIN_AMOUNT as MIN_AMOUNT

_CURRENCY = re.compile(r"[A-Z]{3}")


def problems(amount: object, currency: object) -> list[str]:
    """What is wrong with ``amount`` (minor units) and ``currency``; empty when valid."""
    found = []
    if type(amount) is not int:  # bool is an int subclass and never an amount
        found.append(f"amount must be an integer number of minor units, not {amount!r}")
    elif not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        found.append(f"amount must be {MIN_AMOUNT} to {MAX_AMOUNT} minor units, not {amount}")
    if not isinstance(currency, str) or _CURRENCY.fullmatch(currency) is None:
        found.append(f"currency must be three capital letters, not {currency!r}")
    return found


def describe(amount: int, currency: str) -> str:
    """``1999 EUR`` style, for messages (minor units: no decimal point guessing)."""
    return f"{amount} {currency}"
