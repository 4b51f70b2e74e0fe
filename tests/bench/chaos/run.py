"""One chaos run: the profiles, the scenario a seed makes, and ``chaos`` from load to report.

A ``Scenario`` is everything random about a run, drawn from one seed before anything starts:
the kinds of the orders and their order, the fault schedule, the catalog (the scarce SKU is
stocked for half of its orders). The same seed gives the same scenario; what the platform
makes of it varies with timing, which is the point.

``chaos`` runs a scenario on a stack that ``saga_stack(..., stack_options(scenario))`` built:
it starts the Order observer and a stock sampler, places the orders while the injector
carries out the faults, waits (bounded) until every saga settled, collects the evidence,
checks the invariants and renders the report. Whatever happens, it heals the gates and waits
until every platform component's probe passes again before it returns, so the tests that
run after it find a healthy platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from infra.local.probes import Probe, probes, wait_ready
from infra.local.state import State
from infra.local.supervisor import Supervisor
from services.inventory.domain.stock import Product
from tests.bench.chaos import evidence, invariants, load, timeline
from tests.bench.chaos.faults import Fault, FaultKind, FaultRecord, Injector, schedule
from tests.bench.chaos.invariants import FaultOutcome, Verdict
from tests.bench.chaos.load import Kind, Load, Placed
from tests.bench.chaos.observer import SETTLED, OrderObserver
from tests.e2e.stack import Stack, StackOptions

PAYMENT_DEADLINE_SECONDS = 20  # 3-D Secure payments nobody completes end after this
INVENTORY_DEADLINE_SECONDS = 60
# A delaying gate holds each chunk 1.5-4 s, each way: some replies come later than this, so
# the operator cannot tell whether its request took effect.
OPERATOR_REQUEST_TIMEOUT = "PT5S"
BURST_WINDOW_SECONDS = 60.0  # faults after a burst are spread over this long


@dataclass(frozen=True)
class Profile:
    name: str
    orders: int
    rate: float | None  # orders per second; None: all at once
    repeats: int  # each fault kind this many times
    settle_timeout: float  # after the last order and fault, how long sagas may take to end
    mix: Mapping[Kind, int] = field(default_factory=lambda: dict(load.DEFAULT_MIX))


PROFILES = {
    "short": Profile("short", orders=150, rate=1.5, repeats=1, settle_timeout=150.0),
    "long": Profile("long", orders=1200, rate=2.0, repeats=3, settle_timeout=300.0),
}


@dataclass(frozen=True)
class Scenario:
    seed: int
    profile: Profile
    kinds: tuple[Kind, ...]
    faults: tuple[Fault, ...]

    @property
    def catalog(self) -> list[Product]:
        return load.catalog(self.kinds)


def window(profile: Profile) -> float:
    """Seconds the load lasts: the faults fall within it."""
    return BURST_WINDOW_SECONDS if profile.rate is None else profile.orders / profile.rate


def scenario(
    profile: Profile, seed: int, *, fault_kinds: Sequence[FaultKind] = tuple(FaultKind)
) -> Scenario:
    rng = random.Random(seed)
    kinds = tuple(load.plan(profile.orders, profile.mix, rng))
    repeats = dict.fromkeys(fault_kinds, profile.repeats)
    return Scenario(seed, profile, kinds, tuple(schedule(repeats, window(profile), rng)))


def stack_options(scenario: Scenario) -> StackOptions:
    """The stack as a user would run it: the operator's own peering lifetime, and a restarted
    operator with the same priority and identity as before (a restarted container, a
    replacement pod; every OperatorProcess start is)."""
    return StackOptions(
        name="chaos",
        catalog=scenario.catalog,
        payment_deadline_seconds=PAYMENT_DEADLINE_SECONDS,
        inventory_deadline_seconds=INVENTORY_DEADLINE_SECONDS,
        peering_lifetime_seconds=None,
        operator_env={"SAGA_RETRY__REQUEST_TIMEOUT": OPERATOR_REQUEST_TIMEOUT},
    )


@dataclass(frozen=True)
class Report:
    scenario: Scenario
    placed: Sequence[Placed]
    records: Sequence[FaultRecord]
    verdicts: Sequence[Verdict]
    text: str

    @property
    def ok(self) -> bool:
        return all(verdict.count == 0 for verdict in self.verdicts)


async def chaos(
    stack: Stack,
    kube: client.ApiClient,
    platform: Endpoints,
    state: State,
    scenario: Scenario,
    *,
    say: Callable[[str], None] = print,
) -> Report:
    profile = scenario.profile
    checks = probes(state)
    observer = OrderObserver(kube, stack.namespace)
    injector = Injector(stack, Supervisor(state), checks, say=say)
    lowest: dict[str, int] = {}
    pool = await asyncpg.create_pool(stack.databases["inventory"], min_size=0, max_size=1)
    assert pool is not None
    observer.start()
    sampler = asyncio.create_task(_sample(pool, lowest))
    rate = "a burst" if profile.rate is None else f"{profile.rate:g}/s"
    say(
        f"chaos: seed {scenario.seed}, profile {profile.name}, {len(scenario.kinds)} orders "
        f"at {rate}, {len(scenario.faults)} faults, namespace {stack.namespace}"
    )
    say("timeline (seconds since the load started):")
    try:
        started, wall_started = time.monotonic(), time.time()
        driver, rng = Load(stack, kube), random.Random(scenario.seed + 1)
        # A task group: if either fails, the other is cancelled rather than left running.
        async with asyncio.TaskGroup() as group:
            placing = group.create_task(driver.place(scenario.kinds, rate=profile.rate, rng=rng))
            faulting = group.create_task(injector.run(list(scenario.faults), started))
        placed, records = placing.result(), faulting.result()
        say(f"  {time.monotonic() - started:7.1f}s  load done: {_placing(placed)}")
        left = await load.wait_until(
            lambda: _unsettled(stack, observer, placed), timeout=profile.settle_timeout
        )
        ended = time.time()
        say(
            f"  {time.monotonic() - started:7.1f}s  "
            + ("every saga settled" if not left else f"gave up waiting: {len(left)} unsettled")
        )
        kinds = {p.order_id: str(p.kind) for p in placed if p.order_id}
        traces = [
            timeline.saga_trace(s.body, kinds.get(name, "unknown"), s.changes)
            for name, s in observer.seen.items()
        ]
        lines = [_fault_line(r, traces, ended, wall_started) for r in records]
        found = await evidence.collect(
            stack,
            kafka=platform.kafka_bootstrap,
            observer=observer,
            catalog=scenario.catalog,
            lowest_available=lowest,
            forged=frozenset(p.order_id for p in placed if p.kind is Kind.FORGED and p.order_id),
            faults=[_outcome(line, record) for line, record in zip(lines, records, strict=True)],
        )
        verdicts = invariants.check(found)
        text = _text(scenario, placed, found, lines, verdicts, (wall_started, ended))
        return Report(scenario, placed, records, verdicts, text)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await observer.stop()
        await pool.close()
        for gate in stack.gates.values():
            gate.heal()
        await healthy(checks)


def _text(
    scenario: Scenario,
    placed: Sequence[Placed],
    found: invariants.Evidence,
    lines: Sequence[timeline.FaultLine],
    verdicts: Sequence[Verdict],
    span: tuple[float, float],  # the load's start and the end of the wait (wall clock)
) -> str:
    kinds = {p.order_id: str(p.kind) for p in placed if p.order_id}
    wall_started, ended = span
    intended = {str(kind): ends for kind, ends in load.INTENDED.items()}
    notes = _notes(placed, wall_started)
    astray = timeline.unintended(kinds, intended, found.orders, found.resources, notes)
    table = timeline.outcomes(kinds, found.orders, found.resources)
    return "\n".join(
        [
            f"chaos report: seed {scenario.seed}, profile {scenario.profile.name}, "
            f"{len(placed)} orders ({_placing(placed)}; orders holds {len(found.orders)}), "
            f"{ended - wall_started:.0f}s",
            "faults, their recovery, and the sagas' stall after each:",
            *timeline.render_faults(lines),
            "outcomes by kind of order (orders' phase/reason):",
            *timeline.render_outcomes(table),
            f"not ended as intended: {len(astray)} (a fault may explain it; not an invariant)",
            *(f"  {line}" for line in astray[:10]),
            *([f"  ... and {len(astray) - 10} more"] if len(astray) > 10 else []),
            "invariants (each must be 0):",
            *timeline.render_verdicts(verdicts),
        ]
    )


def _notes(placed: Sequence[Placed], wall_started: float) -> dict[str, str]:
    notes = {}
    for p in placed:
        if not p.order_id or p.placed_at is None:
            continue
        note = f"placed at {p.placed_at - wall_started:.1f}s"
        if p.kind is Kind.THREE_DS_COMPLETES:
            taken = p.webhook_at
            note += (
                f", webhook {p.webhook or 'not sent'}"
                if taken is None
                else f", webhook {p.webhook} {taken - p.placed_at:.1f}s after placing"
            )
        notes[p.order_id] = note
    return notes


def _placing(placed: Sequence[Placed]) -> str:
    failed = [p for p in placed if not p.order_id]
    text = f"{len(placed) - len(failed)} placed"
    if failed:
        reasons = Counter(p.error.split(":", 1)[0] for p in failed)
        text += f", {len(failed)} never placed ({dict(reasons)})"
    return text


def _fault_line(
    record: FaultRecord, traces: Sequence[timeline.SagaTrace], ended: float, wall_started: float
) -> timeline.FaultLine:
    resumed = (
        None if record.recovered_at is None else timeline.stall(traces, record.recovered_at, ended)
    )
    return timeline.FaultLine(
        at=record.injected_at - wall_started,
        name=str(record.fault.kind)
        if record.fault.kind.value == record.fault.target
        else f"{record.fault.kind}:{record.fault.target}",
        description=f"{record.fault.describe()}; {record.detail}",
        recovery=record.recovery,
        stalled=timeline.stall(traces, record.injected_at, ended),
        resumed=resumed,
    )


def _outcome(line: timeline.FaultLine, record: FaultRecord) -> FaultOutcome:
    """Issue 10 bounds the take-over after an operator restart; other faults are reported."""
    bounded = record.fault.kind is FaultKind.OPERATOR and line.resumed is not None
    return FaultOutcome(
        name=f"{line.name} @ {line.at:.1f}s",
        recovered=record.recovered_at is not None,
        resume_worst=line.resumed.worst if bounded and line.resumed else None,
        resume_worst_order=line.resumed.worst_order if line.resumed else "",
    )


async def _unsettled(stack: Stack, observer: OrderObserver, placed: Sequence[Placed]) -> list[str]:
    """Orders not done yet: running in orders, an Order not ended (``Failed`` has ended for
    now: it waits for a human), or Terminating for less than the limit."""
    rows = await stack.query(
        "orders", "SELECT id FROM orders WHERE phase NOT IN ('Completed', 'Cancelled')"
    )
    left = [str(row["id"]) for row in rows]
    now = time.time()
    for p in placed:
        if p.order_id and p.order_id not in observer.seen:
            left.append(p.order_id)
    for name, sighting in observer.seen.items():
        if sighting.gone_at is not None:
            continue
        if sighting.phase not in {*SETTLED, "Failed"}:
            left.append(name)
        elif sighting.deletion_at is not None:
            if now - sighting.deletion_at <= invariants.TERMINATING_LIMIT + 5:
                left.append(name)
    return left


async def _sample(pool: asyncpg.Pool, lowest: dict[str, int]) -> None:
    """Every SKU's available stock every second, for the lowest the run ever saw."""
    while True:
        with contextlib.suppress(Exception):  # Postgres down: the next sample sees it
            await evidence.sample_available(pool, lowest)
        await asyncio.sleep(1.0)


async def healthy(checks: Mapping[str, Probe], timeout: float = 180.0) -> None:
    """Return once every platform component's probe passes: the run leaves no part down."""
    await asyncio.gather(*(wait_ready(name, probe, timeout) for name, probe in checks.items()))
