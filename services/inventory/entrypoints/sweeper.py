"""The expiry sweeper: gives back the stock of reservations whose TTL has passed.

Runs in the background of ``serve`` (``INVENTORY_SWEEPER__ENABLED``), and once from the
command line with ``python -m services.inventory sweep --once``. Every replica may run one:
``expire_due`` claims due reservations with ``SKIP LOCKED``, so replicas share the work and
never expire one reservation twice; each expiry commits its ``inventory.expired`` event with
it. A request that touches a due reservation first expires it itself, so the sweeper's timing
never decides an outcome; it only makes sure stock comes back when nobody asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.service_layer import handlers
from services.inventory.service_layer.clock import Clock, utc_now
from services.inventory.settings import SweeperSettings
from services.runtime.kafka import BackgroundWorker, retry_delay

logger = logging.getLogger(__name__)


class ExpirySweeper(BackgroundWorker):
    def __init__(
        self,
        uow: Callable[[], InventoryUnitOfWork],
        settings: SweeperSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__()
        self._uow = uow
        self._settings = settings
        self._clock = clock

    async def run_once(self) -> int:
        """Expire every reservation due now, a batch per transaction; how many."""
        total = 0
        while True:
            expired = await handlers.expire_due(
                self._uow(), now=self._clock(), limit=self._settings.batch_size
            )
            total += expired
            if expired < self._settings.batch_size:
                break
        if total:
            logger.info("expired %d reservations", total)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        self._ready()
        interval = self._settings.interval.total_seconds()
        failures = 0
        while not stop.is_set():
            try:
                await self.run_once()
                failures = 0
                delay = interval
            except Exception:  # the database may be away; the sweeper must outlive that
                failures += 1
                every = self._settings.interval
                delay = retry_delay(failures, initial=every, maximum=every * 6)
                logger.exception("expiry sweep failed (%d in a row)", failures)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
