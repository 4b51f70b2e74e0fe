"""How long sagas stalled after each fault, and the report a run prints. Pure.

A saga *moves* when the operator starts or finishes one of its steps, or the saga itself
(the times the Order's status records, on the operator's clock, which is this host's), when
it retries a step (a status change the observer's watch saw: retries leave no time in the
status), or when its Order is created. After a moment ``t``, each saga in flight at ``t`` (its Order
made, not finished) waits until its next move; the stall at ``t`` is the worst such wait
(and the median), so one saga left behind shows even when the others run on. A saga that
never moves again waits until the run's end.

Measured twice per fault: from the fault (``stalled``: outage plus take-over) and from its
recovery (``resumed``: what issue 10 bounds at 10 s after an operator restart). Sagas
waiting on purpose are left out: a 3-D Secure payment nobody completes waits for its
deadline.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.bench.chaos.invariants import OrderRow, OrderView, Verdict

WAITING_ON_PURPOSE = frozenset({"3ds-times-out"})


@dataclass(frozen=True)
class SagaTrace:
    order_id: str
    kind: str
    created: float
    finished: float | None
    moves: tuple[float, ...]  # sorted


@dataclass(frozen=True)
class Stall:
    in_flight: int
    worst: float
    median: float
    worst_order: str


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def saga_trace(body: Mapping[str, Any], kind: str, changes: Iterable[float] = ()) -> SagaTrace:
    """The moves an Order's status records, and the status ``changes`` a watch saw. A
    ``Failed`` saga has stopped at its last move (it waits for a human, and ``terminal``
    reports it), though it has no ``finishedAt``."""
    metadata, status = body.get("metadata") or {}, body.get("status") or {}
    created = _epoch(metadata.get("creationTimestamp")) or 0.0
    times = [created, _epoch(status.get("startedAt")), _epoch(status.get("finishedAt"))]
    times += changes
    for step in status.get("steps") or ():
        times += [_epoch(step.get("startedAt")), _epoch(step.get("finishedAt"))]
    moves = tuple(sorted(t for t in times if t is not None))
    finished = _epoch(status.get("finishedAt"))
    if finished is None and status.get("phase") == "Failed":
        finished = moves[-1]
    return SagaTrace(
        order_id=str(metadata.get("name", "")),
        kind=kind,
        created=created,
        finished=finished,
        moves=moves,
    )


def stall(traces: Iterable[SagaTrace], since: float, end: float) -> Stall | None:
    """The wait of every saga in flight at ``since`` until its next move; None if none was."""
    waits: list[tuple[float, str]] = []
    for trace in traces:
        if trace.kind in WAITING_ON_PURPOSE:
            continue
        if trace.created > since or (trace.finished is not None and trace.finished <= since):
            continue
        following = next((t for t in trace.moves if t > since), end)
        waits.append((max(following, since) - since, trace.order_id))
    if not waits:
        return None
    worst, order_id = max(waits)
    return Stall(len(waits), worst, statistics.median(w for w, _ in waits), order_id)


def ending(
    order_id: str, orders: Mapping[str, OrderRow], resources: Mapping[str, OrderView]
) -> str:
    """How an order ended: orders' phase/reason, or the Order's for one orders has no row of
    (a forged Order)."""
    row, view = orders.get(order_id), resources.get(order_id)
    if row is not None:
        return row.phase + (f"/{row.reason}" if row.reason else "")
    if view is not None:
        return f"Order {view.phase or 'without phase'}" + (f"/{view.reason}" if view.reason else "")
    return "never seen"


def outcomes(
    kinds: Mapping[str, str], orders: Mapping[str, OrderRow], resources: Mapping[str, OrderView]
) -> dict[str, Counter[str]]:
    """Per kind of order, how many ended how."""
    table: dict[str, Counter[str]] = {}
    for order_id, kind in kinds.items():
        table.setdefault(kind, Counter())[ending(order_id, orders, resources)] += 1
    return table


def unintended(
    kinds: Mapping[str, str],
    intended: Mapping[str, frozenset[str]],
    orders: Mapping[str, OrderRow],
    resources: Mapping[str, OrderView],
    notes: Mapping[str, str],
) -> list[str]:
    """Orders that did not end as their kind intends (a kind without an entry may end any
    way), each with its note (e.g. when its webhook was taken)."""
    found = []
    for order_id, kind in sorted(kinds.items(), key=lambda item: (item[1], item[0])):
        end = ending(order_id, orders, resources)
        if kind in intended and end not in intended[kind]:
            note = f" ({notes[order_id]})" if notes.get(order_id) else ""
            found.append(f"{order_id}: {kind} ended {end}{note}")
    return found


@dataclass(frozen=True)
class FaultLine:
    at: float  # seconds after the load started
    name: str
    description: str
    recovery: float | None
    stalled: Stall | None
    resumed: Stall | None


def render_faults(lines: Sequence[FaultLine]) -> list[str]:
    out = [
        f"  {'AT':>7}  {'FAULT':<16}{'RECOVERED':>10}  {'IN FLIGHT':>9}"
        f"  {'STALLED max/p50':>16}  {'RESUMED max':>11}  SLOWEST SAGA"
    ]
    for line in lines:
        recovery = "never" if line.recovery is None else f"{line.recovery:.1f}s"
        stalled = line.stalled
        in_flight = "-" if stalled is None else str(stalled.in_flight)
        stall_text = "-" if stalled is None else f"{stalled.worst:.1f}s/{stalled.median:.1f}s"
        resumed = "-" if line.resumed is None else f"{line.resumed.worst:.1f}s"
        slowest = "" if stalled is None else stalled.worst_order
        out.append(
            f"  {line.at:6.1f}s  {line.name:<16}{recovery:>10}  {in_flight:>9}"
            f"  {stall_text:>16}  {resumed:>11}  {slowest}"
        )
        out.append(f"  {'':7}  {line.description}")
    return out


def render_outcomes(table: Mapping[str, Counter[str]]) -> list[str]:
    out = []
    for kind in sorted(table):
        counts = table[kind]
        ends = ", ".join(f"{end} {n}" for end, n in counts.most_common())
        out.append(f"  {kind:<15}{sum(counts.values()):>5}  {ends}")
    return out


def render_verdicts(verdicts: Sequence[Verdict], examples: int = 5) -> list[str]:
    out = []
    for verdict in verdicts:
        mark = "ok  " if verdict.count == 0 else "FAIL"
        out.append(f"  {mark} {verdict.name:<17}{verdict.count:>5}  {verdict.meaning}")
        out += [f"         {v}" for v in verdict.violations[:examples]]
        if verdict.count > examples:
            out.append(f"         ... and {verdict.count - examples} more")
    return out
