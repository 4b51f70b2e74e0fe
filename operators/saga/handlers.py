"""kopf registrations, and nothing else: each handler hands over to ``reconciler``.

- startup/cleanup: the shared clients, the metrics endpoint and the Kafka bridge;
- a daemon per unfinished Order drives its saga (kopf respawns one for every unfinished
  Order when an operator starts, which is how a killed operator's sagas resume);
- deletion (kopf's finalizer) compensates an unfinished saga before the Order goes;
- a timer deletes finished Orders after ``spec.ttlSecondsAfterFinished``.

With ``SAGA_SHARDS__INDEX`` set, every handler only takes Orders labelled with that shard.
kopf applies label filters on its side of the watch (the request carries no labelSelector),
so each shard still receives every Order's watch events and skips the others': shards split
the work, not the watch traffic. Namespaces (one operator per namespace) split both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import kopf
from prometheus_client import start_http_server

from operators.saga import machine, reconciler
from operators.saga import status as order_status
from operators.saga.bridge import SHARD_LABEL, Bridge
from operators.saga.clients import GROUP, PLURAL, VERSION, Orders, Peerings, Services
from operators.saga.settings import SagaSettings
from operators.saga.vitals import Peering, refresh_forever
from services.runtime.consumer import InboxConsumer
from services.runtime.kafka import start_producer

logger = logging.getLogger(__name__)

TTL_CHECK_INTERVAL = 10.0  # seconds between checks of a finished Order's TTL
STOP_GRACE_SECONDS = 30.0  # how long a stopped daemon may take to record its step in flight
API_RETRY_SECONDS = 2.0  # before kopf runs a handler again that failed on an API error


def register(
    settings: SagaSettings, registry: kopf.OperatorRegistry, peering: Peering | None = None
) -> None:
    """Every handler, on ``registry``; ``peering`` is who this replica is (None: standalone)."""
    labels = (
        {SHARD_LABEL: str(settings.shards.index)} if settings.shards.index is not None else None
    )
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """Through kubernetes_asyncio: the service account in a pod, $KUBECONFIG outside."""
        return await kopf.login_via_async_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def start(memo: kopf.Memo, settings: kopf.OperatorSettings, **kwargs: Any) -> None:
        settings.posting.level = logging.INFO  # every transition becomes a Kubernetes Event
        settings.persistence.finalizer = "kubesaga.io/saga"
        settings.watching.server_timeout = 300
        settings.peering.lifetime = saga_settings.peering_lifetime_seconds
        # One namespace and a CRD installed before the operator: nothing to discover at run
        # time, so the Role needs no cluster-wide list/watch of CRDs and namespaces.
        settings.scanning.disabled = True
        # The TTL timer deletes its own Order, and kopf's deletion then waits for that timer
        # to exit. Often it has not yet (it is still returning from the DELETE), and kopf's
        # default is to look again only after 60 s: the finalizer stays that long. Give the
        # exit a moment, and look again each second if it needs more.
        settings.background.instant_exit_timeout = 1.0
        settings.background.cancellation_polling = 1.0
        await _start(memo, saga_settings)
        if not memo.get("vitals"):
            read = Peerings(memo.api, saga_settings.namespace).records
            clock = memo.ctx.clock
            index = kwargs["sagas"]  # kopf passes every index to start-up handlers too
            memo.vitals = asyncio.create_task(refresh_forever(peering, read, index, clock))

    saga_settings = settings

    @kopf.index(*resource, id="sagas", registry=registry, labels=labels)
    def sagas(spec: kopf.Spec, status: kopf.Status, **_: Any) -> dict[str, Any] | None:
        """Unsettled Orders by phase, each with its step's deadline: the vitals count them."""
        saga = _saga_in(status)
        if saga.settled:
            return None
        deadlines = reconciler.deadlines_for(spec, saga_settings)
        return {str(saga.phase): machine.deadline_of(saga, deadlines)}

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        await _stop(memo)

    @kopf.daemon(
        *resource,
        id="saga",
        registry=registry,
        labels=labels,
        when=_unsettled,
        # kopf stops a daemon as soon as its own Completed/Cancelled status reaches the watch
        # (the filter no longer matches), often before the patch call has returned to it.
        # Without a backoff kopf cancels at once, and the transition's metric, log line and
        # Event are lost; with it, the daemon sees ``stopped``, finishes the step in flight
        # and records it, and is cancelled only if it overstays.
        cancellation_backoff=STOP_GRACE_SECONDS,
        cancellation_timeout=5,
        # A failed status write (the API server restarting answers 500, or etcd is gone)
        # ends the daemon with an error, and kopf restarts it after ``backoff``: 60 s by
        # default, a whole minute of a stalled saga. The restart resumes from the last
        # written saga (the memo), so a short pause loses nothing.
        backoff=API_RETRY_SECONDS,
    )
    async def run_saga(
        name: str,
        body: kopf.Body,
        memo: kopf.Memo,
        stopped: kopf.DaemonStopped,
        **_: Any,
    ) -> None:
        ctx: reconciler.Context = memo.ctx
        order = memo.get("order") or _order_from(name, body, ctx)
        memo.order = order
        memo.driving = True

        async def wait(seconds: float) -> bool:
            await stopped.wait(seconds)
            return bool(stopped)

        try:
            await reconciler.drive(
                ctx,
                order,
                _reporter(body),
                live_signals=lambda: _signals(body),
                wait=wait,
                should_stop=lambda: bool(stopped),
            )
        finally:
            memo.driving = False

    @kopf.on.delete(
        *resource, id="compensate", registry=registry, labels=labels, backoff=API_RETRY_SECONDS
    )
    async def compensate(name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        if memo.get("driving"):
            raise kopf.TemporaryError("waiting for the step in flight to be recorded", delay=1)
        ctx: reconciler.Context = memo.ctx
        order = memo.get("order")
        if order is None:
            fresh = await ctx.orders.get(name)
            if fresh is None:
                return
            order = _order_from(name, fresh, ctx)
            memo.order = order
        if order.saga.settled:
            return
        order.saga = machine.apply(
            order.saga, machine.DeletionRequested(), ctx.clock(), ctx.settings.limits()
        )
        pause = await reconciler.drive(
            ctx,
            order,
            _reporter(body),
            live_signals=lambda: None,
            wait=_never_waits,
            should_stop=lambda: False,
            until_blocked=True,
        )
        if pause is not None:
            raise kopf.TemporaryError("compensation is not finished", delay=pause)

    @kopf.timer(
        *resource,
        id="ttl",
        registry=registry,
        labels=labels,
        when=_settled,
        interval=TTL_CHECK_INTERVAL,
    )
    async def expire(
        name: str, spec: kopf.Spec, status: kopf.Status, memo: kopf.Memo, **_: Any
    ) -> None:
        ctx: reconciler.Context = memo.ctx
        finished = order_status.parse_time(status.get("finishedAt"))
        ttl = spec.get("ttlSecondsAfterFinished", ctx.settings.ttl_seconds_after_finished)
        if finished is not None and ctx.clock() >= finished + timedelta(seconds=ttl):
            logger.info("deleting finished Order %s (ttl %ds)", name, ttl)
            await ctx.orders.delete(name)


def _unsettled(status: kopf.Status, **_: Any) -> bool:
    return not _saga_in(status).settled


def _settled(status: kopf.Status, **_: Any) -> bool:
    return bool(status.get("phase")) and _saga_in(status).settled


def _saga_in(found: Mapping[str, Any]) -> machine.Saga:
    return order_status.saga_of(found, reconciler.utc_now())


def _signals(body: kopf.Body) -> Mapping[str, Any] | None:
    found = body.get("status", {}).get("signals")
    return found if isinstance(found, Mapping) else None


def _order_from(name: str, body: Mapping[str, Any], ctx: reconciler.Context) -> reconciler.Order:
    found = body.get("status") or {}
    return reconciler.Order(
        name=name,
        spec=dict(body["spec"]),
        annotations=dict(body.get("metadata", {}).get("annotations") or {}),
        generation=int(body.get("metadata", {}).get("generation") or 1),
        saga=order_status.saga_of(found, ctx.clock()),
        conditions=list(found.get("conditions") or []),
        written=bool(found.get("phase")),
    )


def _reporter(body: kopf.Body) -> reconciler.Reporter:
    def report(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    return report


async def _never_waits(seconds: float) -> bool:
    return True


async def _start(memo: kopf.Memo, settings: SagaSettings) -> None:
    try:
        await _start_parts(memo, settings)
    except BaseException:
        await _stop(memo)  # kopf retries a failed start-up: each try begins with nothing open
        raise


async def _start_parts(memo: kopf.Memo, settings: SagaSettings) -> None:
    orders, api = await Orders.connect(settings.namespace)
    memo.api = api
    memo.ctx = reconciler.Context(settings=settings, services=Services(settings), orders=orders)
    if settings.metrics_port and not memo.get("metrics_serving"):
        # Once per process: kopf retries a failed start-up in the same process and memo.
        start_http_server(settings.metrics_port)
        memo.metrics_serving = True
        logger.info("metrics on :%d/metrics", settings.metrics_port)
    if settings.bridge_enabled:
        memo.producer = await start_producer(settings.kafka)
        consumer: InboxConsumer[Any] = Bridge(orders, settings).consumer(memo.producer)
        await consumer.start()
        memo.bridge = consumer


async def _stop(memo: kopf.Memo) -> None:
    vitals = memo.pop("vitals", None)
    if vitals is not None:
        vitals.cancel()
    for part in ("bridge", "producer"):
        running = memo.pop(part, None)
        if running is not None:
            await running.stop()
    ctx = memo.pop("ctx", None)
    if ctx is not None:
        await ctx.services.close()
    api = memo.pop("api", None)
    if api is not None:
        await api.close()
    await asyncio.sleep(0)
