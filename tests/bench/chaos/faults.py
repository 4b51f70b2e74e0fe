"""Faults: a seeded schedule (pure) and the injector that carries it out on a stack.

Kinds, and what recovery means for each:

- ``operator``, ``orders``, ``inventory``, ``payments``: kill -9 of the process we started,
  then a start on the same port (the operator with the same peering priority, as a
  restarted container or a replacement pod has). Recovered: serving again (the operator:
  its start-up handler ran).
- ``kafka``, ``postgres``, ``redis``, ``etcd``, ``kube-apiserver``: kill -9 of the
  platform's component with its children, found through supervisord (never by name);
  supervisord restarts it. Recovered: a new process and its readiness probe passes.
- ``gate-drop``: the gate between the operator and one service resets every connection for
  ``hold`` seconds; ``gate-delay``: it holds every chunk ``delay`` seconds (past the
  operator's request timeout, so a request may be applied with its reply lost).
  Recovered: the gate heals.

Faults run one at a time, each at its scheduled time or once the previous one recovered,
whichever is later; every wait is bounded (``recovery_timeout``). A fault that does not
recover stops the schedule: what follows would measure a broken platform.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from infra.local.probes import Probe, wait_ready
from infra.local.supervisor import Supervisor
from tests.e2e.stack import SERVICES, Stack


class FaultKind(enum.StrEnum):
    OPERATOR = "operator"
    ORDERS = "orders"
    INVENTORY = "inventory"
    PAYMENTS = "payments"
    KAFKA = "kafka"
    POSTGRES = "postgres"
    REDIS = "redis"
    ETCD = "etcd"
    KUBE_APISERVER = "kube-apiserver"
    GATE_DROP = "gate-drop"
    GATE_DELAY = "gate-delay"


PLATFORM = frozenset(
    {FaultKind.KAFKA, FaultKind.POSTGRES, FaultKind.REDIS, FaultKind.ETCD, FaultKind.KUBE_APISERVER}
)
PROCESSES = frozenset({FaultKind.ORDERS, FaultKind.INVENTORY, FaultKind.PAYMENTS})
GATES = frozenset({FaultKind.GATE_DROP, FaultKind.GATE_DELAY})


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load started
    kind: FaultKind
    target: str  # the component, service or gate it hits
    hold: float = 0.0  # gates: how long the fault lasts
    delay: float = 0.0  # gate-delay: seconds each chunk is held

    def describe(self) -> str:
        if self.kind is FaultKind.GATE_DROP:
            return f"gate to {self.target} drops every connection for {self.hold:.0f}s"
        if self.kind is FaultKind.GATE_DELAY:
            return f"gate to {self.target} delays each chunk {self.delay:.1f}s for {self.hold:.0f}s"
        return f"kill -9 {self.target}"


def schedule(repeats: Mapping[FaultKind, int], window: float, rng: random.Random) -> list[Fault]:
    """Each kind ``repeats[kind]`` times, in a seeded order, spread over ``window`` seconds.

    The window is cut into one slot per fault; each fault lands at a random point of the
    middle half of its slot, so two never share a moment and each finds sagas in flight.
    """
    kinds = [kind for kind, times in repeats.items() for _ in range(times)]
    if window <= 0 and kinds:
        raise ValueError("faults need a load window longer than zero")
    rng.shuffle(kinds)
    slot = window / max(len(kinds), 1)
    faults = []
    for index, kind in enumerate(kinds):
        at = slot * (index + rng.uniform(0.25, 0.75))
        if kind in GATES:
            target = rng.choice(SERVICES)
            hold = rng.uniform(4.0, 10.0)
            delay = rng.uniform(1.5, 4.0) if kind is FaultKind.GATE_DELAY else 0.0
            faults.append(
                Fault(round(at, 1), kind, target, hold=round(hold, 1), delay=round(delay, 1))
            )
        else:
            faults.append(Fault(round(at, 1), kind, str(kind)))
    return faults


@dataclass
class FaultRecord:
    """What happened when a fault was carried out (wall-clock seconds)."""

    fault: Fault
    injected_at: float
    recovered_at: float | None = None
    detail: str = ""

    @property
    def recovery(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.injected_at


class Injector:
    def __init__(
        self,
        stack: Stack,
        supervisor: Supervisor,
        probes: Mapping[str, Probe],
        *,
        recovery_timeout: float = 180.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self._stack = stack
        self._supervisor = supervisor
        self._probes = probes
        self._timeout = recovery_timeout
        self._say = say
        self.records: list[FaultRecord] = []

    async def run(self, faults: list[Fault], started: float) -> list[FaultRecord]:
        """Carry out ``faults`` in order, ``started`` being the load's start (monotonic)."""
        for fault in faults:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            record = await self.inject(fault, started)
            if record.recovered_at is None:
                self._say(f"  {fault.kind} did not recover: the remaining faults are skipped")
                break
        return self.records

    async def inject(self, fault: Fault, started: float) -> FaultRecord:
        record = FaultRecord(fault, injected_at=time.time())
        self.records.append(record)
        offset = time.monotonic() - started
        self._say(f"  {offset:7.1f}s  fault      {fault.describe()}")
        try:
            record.detail = await asyncio.wait_for(self._carry_out(fault), self._timeout)
            record.recovered_at = time.time()
        except Exception as e:  # a timeout or a failed restart: recorded, reported
            record.detail = f"{type(e).__name__}: {e}"
        offset = time.monotonic() - started
        took = "" if record.recovery is None else f" after {record.recovery:.1f}s"
        verdict = "recovered " if record.recovered_at else "FAILED    "
        self._say(f"  {offset:7.1f}s  {verdict} {fault.kind}{took} ({record.detail})")
        return record

    async def _carry_out(self, fault: Fault) -> str:
        stack = self._stack
        if fault.kind is FaultKind.OPERATOR:
            stack.operator.kill()
            await asyncio.to_thread(stack.operator.start, bridge=False)
            return f"restarted at priority {stack.operator.priority}"
        if fault.kind in PROCESSES:
            service = stack.services[fault.target]
            service.kill()
            await asyncio.to_thread(service.start)
            return f"serving again on :{service.port}"
        if fault.kind in PLATFORM:
            name = fault.target
            pid = await asyncio.to_thread(self._supervisor.kill, name)
            new = await asyncio.to_thread(self._supervisor.wait_restarted, name, pid, self._timeout)
            await wait_ready(name, self._probes[name], self._timeout)
            return f"pid {pid} -> {new}, probe passes"
        gate = stack.gates[fault.target]
        if fault.kind is FaultKind.GATE_DROP:
            gate.drop()
        else:
            gate.delay(fault.delay)
        try:
            await asyncio.sleep(fault.hold)
        finally:
            gate.heal()
        return "healed"
