"""The one money range of kubesaga: what an order may total and a payment may charge.

Orders refuses an order whose total is outside it (``POST /orders`` answers 422 naming the
amount), payments refuses a payment outside it, the event contracts bound amounts by it, and
the Order CRD's ``spec.amount.value`` carries the same ``minimum`` and ``maximum`` (a unit test
reads the CRD and compares). Before this module, orders took up to 10**12 minor units while
payments capped at 99,999,999, so an order could be placed that no payment could ever take.

A module of constants and nothing else: the services' pure domains import it (the one
exception to "domains import no runtime", granted by name in pyproject's import contracts).
"""

from __future__ import annotations

MIN_AMOUNT = 1  # a zero payment authorizes nothing, so an order totalling 0 cannot be paid
MAX_AMOUNT = 99_999_999  # Stripe's limit for most currencies: 999,999.99 in major units
