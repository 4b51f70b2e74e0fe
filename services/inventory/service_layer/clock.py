"""The clock the entrypoints read "now" from: reservation expiry is decided on it.

Handlers take ``now`` as an argument; the routes and the sweeper call a ``Clock`` that
``bootstrap`` chose (the wall clock in production; tests pass one they move forward).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
