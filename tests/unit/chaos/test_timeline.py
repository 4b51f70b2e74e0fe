"""Stalls after a fault, read from the Orders' recorded moves, and the report's lines."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.bench.chaos import timeline
from tests.bench.chaos.invariants import OrderRow, OrderView, Verdict
from tests.bench.chaos.timeline import FaultLine, SagaTrace, Stall

T0 = 1_800_000_000.0  # an epoch second; 2027-01-15T08:00:00Z


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def order(name: str, created: int, steps: list[tuple[float, float | None]], **status: Any) -> Any:
    return {
        "metadata": {"name": name, "creationTimestamp": iso(created).split(".")[0] + "Z"},
        "status": {
            "steps": [
                {"name": f"s{i}", "startedAt": iso(a), "finishedAt": iso(b) if b else None}
                for i, (a, b) in enumerate(steps)
            ],
            **status,
        },
    }


def test_a_trace_holds_every_recorded_move_in_order() -> None:
    body = order("a", 1, [(1.5, 2.25), (3.0, None)], startedAt=iso(1.2), finishedAt=iso(9.5))
    trace = timeline.saga_trace(body, "approved")
    assert trace == SagaTrace(
        "a", "approved", T0 + 1, T0 + 9.5, tuple(T0 + t for t in (1, 1.2, 1.5, 2.25, 3.0, 9.5))
    )


def test_a_retry_the_watch_saw_is_a_move_too() -> None:
    body = order("r", 1, [(1.5, None)])
    trace = timeline.saga_trace(body, "approved", changes=[T0 + 4.0, T0 + 2.5])
    assert trace.moves == (T0 + 1, T0 + 1.5, T0 + 2.5, T0 + 4.0)


def test_a_failed_saga_stops_at_its_last_move() -> None:
    trace = timeline.saga_trace(order("f", 1, [(2.0, 4.0)], phase="Failed"), "forged")
    assert trace.finished == T0 + 4.0


def trace(
    name: str,
    created: float,
    moves: list[float],
    finished: float | None = None,
    kind: str = "approved",
) -> SagaTrace:
    return SagaTrace(name, kind, created, finished, tuple(sorted([created, *moves])))


def test_the_stall_is_the_slowest_sagas_wait_for_its_next_move() -> None:
    traces = [
        trace("quick", 0, [10.5, 12], finished=12),
        trace("slow", 0, [9, 25], finished=25),
        trace("later", 11, [12]),  # made after the moment: not in flight then
        trace("done", 0, [5], finished=5),  # finished before: not in flight
        trace("waiting", 0, [60], kind="3ds-times-out"),  # waits on purpose
    ]
    assert timeline.stall(traces, since=10, end=100) == Stall(2, 15.0, 7.75, "slow")


def test_a_saga_that_never_moves_again_waits_until_the_end() -> None:
    stall = timeline.stall([trace("stuck", 0, [1])], since=10, end=70)
    assert stall == Stall(1, 60.0, 60.0, "stuck")


def test_no_saga_in_flight_means_no_stall() -> None:
    assert timeline.stall([trace("done", 0, [5], finished=5)], since=10, end=70) is None


def test_endings_and_what_did_not_end_as_intended() -> None:
    kinds = {"a": "approved", "b": "approved", "f": "forged", "x": "declined"}
    orders = {
        "a": OrderRow("Completed", "", ()),
        "b": OrderRow("Cancelled", "PaymentTimeout", ()),
        "x": OrderRow("Cancelled", "PaymentDeclined", ()),
    }
    views = {"f": OrderView("Failed", "CompensationRefused", gone=True)}
    assert timeline.outcomes(kinds, orders, views) == {
        "approved": Counter({"Completed": 1, "Cancelled/PaymentTimeout": 1}),
        "forged": Counter({"Order Failed/CompensationRefused": 1}),
        "declined": Counter({"Cancelled/PaymentDeclined": 1}),
    }
    intended = {"approved": frozenset({"Completed"}), "declined": frozenset({"Cancelled/X"})}
    assert timeline.unintended(kinds, intended, orders, views, {"b": "placed at 3.0s"}) == [
        "b: approved ended Cancelled/PaymentTimeout (placed at 3.0s)",
        "x: declined ended Cancelled/PaymentDeclined",
    ]
    assert timeline.ending("nobody", orders, views) == "never seen"


def test_the_fault_table_names_recovery_stall_and_the_slowest_saga() -> None:
    lines = timeline.render_faults(
        [
            FaultLine(
                12.0,
                "operator",
                "kill -9 operator; restarted",
                4.5,
                Stall(20, 41.2, 38.0, "slow-one"),
                Stall(20, 36.7, 33.0, "slow-one"),
            ),
            FaultLine(30.0, "kafka", "kill -9 kafka; FAILED", None, None, None),
        ]
    )
    assert "operator" in lines[1] and "4.5s" in lines[1] and "41.2s/38.0s" in lines[1]
    assert lines[1].rstrip().endswith("slow-one") and "36.7s" in lines[1]
    assert lines[2].strip() == "kill -9 operator; restarted"
    assert "never" in lines[3] and lines[3].split()[-1] == "-"


@pytest.mark.parametrize(("count", "shown"), [(0, 1), (2, 3), (7, 7)])
def test_verdicts_show_their_first_examples(count: int, shown: int) -> None:
    verdict = Verdict(
        "money",
        "money kept exactly for completed orders",
        tuple(f"order-{i}" for i in range(count)),
    )
    lines = timeline.render_verdicts([verdict])
    assert len(lines) == shown
    assert lines[0].split()[:3] == ["ok" if count == 0 else "FAIL", "money", str(count)]
    if count > 5:
        assert lines[-1].strip() == f"... and {count - 5} more"
