"""What `kubectl get orders` shows: the step in flight (STEP) and, once settled, DURATION."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from operators.saga import machine, status
from operators.saga.machine import Pending, Rejected, Step
from tests.unit.saga.test_machine import (
    AUTHORIZED,
    CANCELLED,
    COMMITTED,
    COMPLETED,
    RELEASED,
    RESERVED,
    T0,
    through,
)


@pytest.mark.parametrize(
    ("outcomes", "shown"),
    [
        ((), "reserve-stock"),
        ((RESERVED,), "authorize-payment"),
        ((RESERVED, Pending(Step.AUTHORIZE_PAYMENT)), "authorize-payment"),
        ((RESERVED, AUTHORIZED), "commit-reservation"),
        ((RESERVED, AUTHORIZED, COMMITTED), "complete-order"),
        ((RESERVED, AUTHORIZED, COMMITTED, COMPLETED), ""),
        ((RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "card declined")), "release-stock"),
        ((RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "declined"), RELEASED), "cancel-order"),
        ((RESERVED, Rejected(Step.AUTHORIZE_PAYMENT, "x"), RELEASED, CANCELLED), ""),
    ],
)
def test_the_step_column_names_the_step_in_flight(
    outcomes: tuple[machine.Outcome, ...], shown: str
) -> None:
    saga = through(*outcomes)
    assert status.in_flight(saga) == shown
    written = status.status_of(saga, previous_conditions=[], generation=1, now=T0)
    assert written["step"] == shown


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(milliseconds=1270), "1.27s"),
        (timedelta(seconds=59.994), "59.99s"),
        (timedelta(minutes=3, seconds=5), "3m05s"),
        (timedelta(hours=2, minutes=1, seconds=9), "2h01m09s"),
        (timedelta(seconds=-1), "0.00s"),  # clock skew between replicas never shows negative
    ],
)
def test_duration_is_shown_once_the_saga_finished(elapsed: timedelta, shown: str) -> None:
    running = through(RESERVED)
    assert status.duration(running) == ""
    finished = replace(running, finished_at=T0 + elapsed)
    assert status.duration(finished) == shown
