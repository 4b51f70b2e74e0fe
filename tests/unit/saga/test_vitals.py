"""The operator's vital signs: kopf's peering rule (who is active) and the in-flight tally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from operators.saga.vitals import Peering, is_active, tally

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
ME = Peering("kubesaga", "shop-operator-shard-0", 100)


def record(priority: int, seen_ago: float, lifetime: int = 60) -> dict[str, object]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat(),
    }


def test_alone_and_alive_is_active() -> None:
    assert is_active({ME.identity: record(100, 5)}, ME, NOW)


def test_without_its_own_live_record_a_replica_is_not_active() -> None:
    assert not is_active({}, ME, NOW)
    assert not is_active({ME.identity: record(100, 61)}, ME, NOW)


def test_a_live_peer_of_higher_priority_pauses_it() -> None:
    records = {ME.identity: record(100, 1), "standby-raised": record(200, 1)}
    assert not is_active(records, ME, NOW)


def test_a_live_peer_of_equal_priority_pauses_both_as_kopf_does() -> None:
    records = {ME.identity: record(100, 1), "twin": record(100, 1)}
    assert not is_active(records, ME, NOW)
    assert not is_active(records, Peering("kubesaga", "twin", 100), NOW)


def test_a_dead_peer_pauses_nobody() -> None:
    records = {ME.identity: record(100, 1), "killed": record(200, 30, lifetime=20)}
    assert is_active(records, ME, NOW)


def test_a_lower_priority_standby_is_paused_while_the_primary_lives() -> None:
    standby = Peering("kubesaga", "shop-operator-shard-0-standby-1", 99)
    records = {ME.identity: record(100, 1), standby.identity: record(99, 1)}
    assert is_active(records, ME, NOW)
    assert not is_active(records, standby, NOW)


def test_unreadable_records_are_ignored() -> None:
    records: dict[str, object] = {
        ME.identity: record(100, 1),
        "garbage": "not a record",
        "no-time": {"priority": 500},
        "bad-time": {"priority": 500, "lastseen": "yesterday"},
    }
    assert is_active(records, ME, NOW)


def test_a_naive_lastseen_is_read_as_utc() -> None:
    naive = (NOW - timedelta(seconds=5)).replace(tzinfo=None).isoformat()
    assert is_active({ME.identity: {"priority": 100, "lastseen": naive}}, ME, NOW)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.tuples(st.integers(-5, 5), st.floats(0, 120), st.integers(10, 90)),
        max_size=6,
    ),
)
def test_at_most_one_replica_of_a_peering_is_ever_active(
    peers: dict[str, tuple[int, float, int]],
) -> None:
    """kopf's rule never lets two replicas of one peering work at once."""
    records = {name: record(p, ago, life) for name, (p, ago, life) in peers.items()}
    active = [
        name for name, (p, _, _) in peers.items() if is_active(records, Peering("x", name, p), NOW)
    ]
    assert len(active) <= 1
    alive = {n: p for n, (p, ago, life) in peers.items() if ago < life}
    if alive and list(alive.values()).count(max(alive.values())) == 1:
        assert active == [max(alive, key=lambda n: alive[n])]  # a unique top live peer works


def test_tally_counts_each_unsettled_phase_and_the_overdue_ones() -> None:
    index: dict[str, list[datetime | None]] = {
        "Pending": [None, None],
        "StockReserved": [NOW - timedelta(seconds=1), NOW + timedelta(seconds=10)],
        "Failed": [None],
    }
    counts = tally(index, NOW)
    assert counts.by_phase["Pending"] == 2
    assert counts.by_phase["StockReserved"] == 2
    assert counts.by_phase["Failed"] == 1
    assert counts.by_phase["PaymentPending"] == 0  # every unsettled phase has a series
    assert "Completed" not in counts.by_phase
    assert counts.overdue == 1


def test_a_deadline_that_is_due_now_is_overdue() -> None:
    assert tally({"PaymentPending": [NOW]}, NOW).overdue == 1
