"""The operator's vital signs, for the alerts and the dashboard, refreshed by one task.

- ``saga_operator_active{peering}``: 1 on the replica of a peering that does the work. kopf
  pauses a replica while another live one of its peering has a higher or equal priority, and
  has no hook that says so; ``is_active`` applies kopf's rule to the KopfPeering record kopf
  itself decides from. A shard with no active replica moves no saga: that is the
  KubesagaOperatorNoActiveReplica alert.
- ``order_saga_in_flight{phase}`` and ``order_saga_overdue``: the unsettled Orders of this
  replica's shard, from kopf's index of them (``Watched``), so a saga whose daemon died still
  counts. Only the active replica reports them (a paused one's index is stale), so a sum over
  replicas counts each saga once. Overdue is a forward step past its deadline: the reconciler
  compensates on the deadline itself, so a saga stays overdue only while nothing drives it.

The gauges are set from the event loop, never read from kopf's index in the scrape thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import Gauge

from operators.saga.machine import SETTLED_PHASES, Phase

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
UNSETTLED_PHASES = tuple(phase for phase in Phase if phase not in SETTLED_PHASES)

OPERATOR_ACTIVE = Gauge(
    "saga_operator_active",
    "1 on the replica of a peering that drives sagas, 0 on a paused standby.",
    ["peering"],
)
SAGAS_IN_FLIGHT = Gauge(
    "order_saga_in_flight",
    "Unsettled Orders of this shard, by phase (reported by the active replica only).",
    ["phase"],
)
SAGAS_OVERDUE = Gauge(
    "order_saga_overdue",
    "Unsettled Orders whose forward step has run past its deadline (active replica only).",
)


@dataclass(frozen=True)
class Peering:
    """Who this replica is in its peering; None in place of it means standalone."""

    name: str
    identity: str
    priority: int


def is_active(records: Mapping[str, object], own: Peering, now: datetime) -> bool:
    """kopf's rule on a KopfPeering's status: this replica's record is alive, and no other
    live record has a priority as high as its own."""
    alive: dict[str, int] = {}
    for identity, record in records.items():
        if not isinstance(record, Mapping):
            continue
        seen = _parse_time(record.get("lastseen"))
        lifetime = timedelta(seconds=int(record.get("lifetime", 60)))
        if seen is not None and seen + lifetime > now:
            alive[identity] = int(record.get("priority", 0))
    if own.identity not in alive:
        return False
    return not any(
        priority >= own.priority for identity, priority in alive.items() if identity != own.identity
    )


@dataclass(frozen=True)
class Tally:
    by_phase: dict[str, int]
    overdue: int


def tally(index: Mapping[str, Iterable[datetime | None]], now: datetime) -> Tally:
    """Counts from kopf's index: phase -> the step deadline of each Order in that phase."""
    by_phase = {str(phase): 0 for phase in UNSETTLED_PHASES}
    overdue = 0
    for phase, dues in list(index.items()):
        for due in list(dues):
            by_phase[phase] = by_phase.get(phase, 0) + 1
            overdue += due is not None and due <= now
    return Tally(by_phase, overdue)


ReadPeering = Callable[[str], Awaitable[Mapping[str, object] | None]]


async def refresh_forever(
    peering: Peering | None,
    read_peering: ReadPeering,
    index: Mapping[str, Iterable[datetime | None]],
    clock: Callable[[], datetime],
) -> None:
    """Set the gauges every ``REFRESH_SECONDS`` until cancelled. A failed read of the peering
    keeps the last answer: the API being away says nothing about who is active."""
    active = peering is None
    label = peering.name if peering else "standalone"
    while True:
        if peering is not None:
            try:
                records = await read_peering(peering.name)
                active = is_active(records or {}, peering, clock())
            except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as error:
                logger.debug("could not read peering %s: %s", peering.name, error)
        OPERATOR_ACTIVE.labels(label).set(int(active))
        counts = tally(index, clock()) if active else Tally({}, 0)
        for phase in UNSETTLED_PHASES:
            SAGAS_IN_FLIGHT.labels(str(phase)).set(counts.by_phase.get(str(phase), 0))
        SAGAS_OVERDUE.set(counts.overdue)
        await asyncio.sleep(REFRESH_SECONDS)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
