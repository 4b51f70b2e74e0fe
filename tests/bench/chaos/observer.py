"""Watches a stack's Orders for the whole run: the last state of each, and when it went.

An Order can vanish before the run ends (a hand-made one with ``ttlSecondsAfterFinished:
0``, or any Order deleted), and one stuck Terminating must be caught while it is stuck, so
the final listing is not enough. One list, then a watch from its resourceVersion; when the
watch breaks (the API server or etcd killed, a 410 Gone) it lists again, and Orders missing
from the new list are marked gone. One watch costs the API server far less than polling a
list of a thousand Orders.

``seen`` maps each order id to its ``Sighting``: the last object, the first time it was seen
settled, its ``deletionTimestamp``, when it was gone, and when its status changed (wall-clock
seconds). The status records when each step started and finished, but not its retries: a
retry shows only as a status change (its attempts), which the watch sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client, watch

logger = logging.getLogger(__name__)

SETTLED = frozenset({"Completed", "Cancelled"})
GROUP, VERSION, PLURAL = "kubesaga.io", "v1alpha1", "orders"


@dataclass
class Sighting:
    body: dict[str, Any]
    settled_at: float | None = None
    deletion_at: float | None = None  # the Order's deletionTimestamp
    gone_at: float | None = None
    changes: list[float] = field(default_factory=list)  # when its status was seen changed

    @property
    def phase(self) -> str:
        return str((self.body.get("status") or {}).get("phase") or "")


@dataclass
class OrderObserver:
    kube: client.ApiClient
    namespace: str
    seen: dict[str, Sighting] = field(default_factory=dict)
    relists: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        """One list now, folded in: the freshest view for the final checks."""
        listing = await client.CustomObjectsApi(self.kube).list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL
        )
        self._fold_list(listing["items"])

    async def _run(self) -> None:
        custom = client.CustomObjectsApi(self.kube)
        while True:
            try:
                listing = await custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL
                )
                self.relists += 1
                self._fold_list(listing["items"])
                version = listing["metadata"]["resourceVersion"]
                while True:  # a watch ends after timeout_seconds: resume from where it was
                    async with watch.Watch() as stream:
                        async for event in stream.stream(
                            custom.list_namespaced_custom_object,
                            GROUP,
                            VERSION,
                            self.namespace,
                            PLURAL,
                            resource_version=version,
                            timeout_seconds=50,
                            _request_timeout=60,
                        ):
                            self._fold(event["type"], event["raw_object"])
                        version = stream.resource_version or version
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broken watch, API server down, 410: list again
                logger.debug("order watch broke (%s): listing again", e)
                await asyncio.sleep(1.0)

    def _fold_list(self, items: list[dict[str, Any]]) -> None:
        now = time.time()
        present = set()
        for item in items:
            present.add(item["metadata"]["name"])
            self._fold("MODIFIED", item, now)
        for name, sighting in self.seen.items():
            if name not in present and sighting.gone_at is None:
                sighting.gone_at = now  # deleted while nobody watched

    def _fold(self, kind: str, body: dict[str, Any], now: float | None = None) -> None:
        now = time.time() if now is None else now
        name = body.get("metadata", {}).get("name")
        if not name:
            return
        sighting = self.seen.get(name)
        if sighting is None:
            sighting = self.seen[name] = Sighting(body)
        elif body.get("status") != sighting.body.get("status"):
            sighting.changes.append(now)
        sighting.body = body
        if kind == "DELETED":
            sighting.gone_at = sighting.gone_at or now
        elif sighting.gone_at is not None:
            sighting.gone_at = None  # made again under the same name
        deletion = body.get("metadata", {}).get("deletionTimestamp")
        if deletion and sighting.deletion_at is None:
            sighting.deletion_at = epoch(deletion)
        if sighting.phase in SETTLED and sighting.settled_at is None:
            sighting.settled_at = now


def epoch(text: str) -> float:
    """A Kubernetes timestamp (RFC 3339, ``Z``) in seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
