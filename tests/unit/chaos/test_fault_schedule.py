"""The fault schedule: seeded, every kind as often as asked, spread over the load's window."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bench.chaos.faults import GATES, PLATFORM, PROCESSES, Fault, FaultKind, schedule
from tests.e2e.stack import SERVICES


@given(
    repeats=st.dictionaries(st.sampled_from(list(FaultKind)), st.integers(0, 4)),
    window=st.floats(10, 3600),
    seed=st.integers(0, 2**32),
)
def test_each_kind_strikes_as_often_as_asked_within_the_window_one_at_a_time(
    repeats: dict[FaultKind, int], window: float, seed: int
) -> None:
    faults = schedule(repeats, window, random.Random(seed))
    assert Counter(f.kind for f in faults) == +Counter(repeats)
    times = [f.at for f in faults]
    assert times == sorted(times)
    assert all(0 < t < window for t in times)
    assert len(set(times)) == len(times)


@given(seed=st.integers(0, 2**32))
def test_targets_and_gate_faults_are_bounded(seed: int) -> None:
    faults = schedule(dict.fromkeys(FaultKind, 2), 600, random.Random(seed))
    for fault in faults:
        if fault.kind in GATES:
            assert fault.target in SERVICES
            assert 4 <= fault.hold <= 10
            delaying = fault.kind is FaultKind.GATE_DELAY
            assert (1.5 <= fault.delay <= 4) if delaying else fault.delay == 0
        else:
            assert fault.target == fault.kind.value and fault.hold == 0
    assert PLATFORM | PROCESSES | GATES | {FaultKind.OPERATOR} == set(FaultKind)


def test_the_same_seed_makes_the_same_schedule() -> None:
    def make(seed: int) -> list[Fault]:
        return schedule(dict.fromkeys(FaultKind, 1), 100, random.Random(seed))

    assert make(5) == make(5)
    assert make(5) != make(6)


def test_faults_need_a_window() -> None:
    with pytest.raises(ValueError):
        schedule({FaultKind.REDIS: 1}, 0, random.Random(1))
    assert schedule({}, 0, random.Random(1)) == []


def test_each_fault_says_what_it_does() -> None:
    assert Fault(1, FaultKind.POSTGRES, "postgres").describe() == "kill -9 postgres"
    drop = Fault(1, FaultKind.GATE_DROP, "payments", hold=6)
    assert drop.describe() == "gate to payments drops every connection for 6s"
    delay = Fault(1, FaultKind.GATE_DELAY, "orders", hold=8, delay=2.5)
    assert delay.describe() == "gate to orders delays each chunk 2.5s for 8s"
