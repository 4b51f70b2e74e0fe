"""``python -m operators.saga run``: the saga operator process (kopf, the bridge, metrics).

Settings come from ``SAGA_*`` variables (``operators.saga.settings``). Peering: replicas with
the same ``--peering`` name elect the one with the highest ``--priority``; the others stand by.
Give each replica its own priority (in the chart, from its rank): kopf freezes all replicas of
equal priority. A shard replica (``SAGA_SHARDS__INDEX=k``) peers in ``<peering>-shard-k``,
with the other replicas of its shard only. ``--standalone`` skips peering (a single replica,
or a test).

``--identity`` names the replica's slot, not its process. kopf's own identity is new for each
process, so a replica killed with -9 leaves a record that looks alive for the peering
lifetime, and its successor (same priority, new identity) sees an equal peer and freezes
every saga until that record expires (nolar/kopf#581 is the same story for dead peers). With
the slot's name (the chart passes the Deployment's), a restarted process or a replacement
pod is the same peer, replaces its own record and works at once.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime

import kopf

from operators.saga import handlers
from operators.saga.clients import Orders, Peerings
from operators.saga.settings import SagaSettings
from operators.saga.vitals import Peering
from services.runtime import observability

SERVICE = "saga-operator"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m operators.saga",
        description="The kubesaga saga operator: reconciles Order resources with kopf and "
        "bridges the services' Kafka events into them.",
        epilog="Settings: SAGA_* environment variables, e.g. SAGA_NAMESPACE, "
        "SAGA_SERVICES__ORDERS, SAGA_DEADLINES__PAYMENT_SECONDS, SAGA_SHARDS__COUNT/INDEX.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the operator until SIGTERM")
    run.add_argument(
        "--peering",
        default="kubesaga-saga",
        help="peering object name; shard k appends -shard-k (default: %(default)s)",
    )
    run.add_argument(
        "--priority", type=int, default=0, help="this replica's peering priority (default: 0)"
    )
    run.add_argument(
        "--identity",
        help="this replica's peering identity, stable across its restarts (e.g. its "
        "Deployment's name); default: kopf's, new for every process",
    )
    run.add_argument("--standalone", action="store_true", help="no peering: a single replica")
    run.add_argument(
        "--liveness", help="kopf's liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    return root


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    settings = SagaSettings()
    observability.configure_logging(SERVICE, settings.telemetry)
    observability.configure_tracing(SERVICE, settings.telemetry)
    peering = None
    if not args.standalone:
        name = peering_name(args.peering, settings.shards.index)
        peering = Peering(name, args.identity or own_identity(), args.priority)
        asyncio.run(ensure_peering(settings.namespace, name))
    registry = kopf.OperatorRegistry()
    handlers.register(settings, registry, peering)
    kopf.run(
        registry=registry,
        namespaces=[settings.namespace],
        standalone=args.standalone,
        peering_name=peering.name if peering else None,
        priority=args.priority,
        # kopf types it as its Identity, a NewType of str it does not export.
        identity=peering.identity if peering else None,  # type: ignore[arg-type]
        liveness_endpoint=args.liveness,
    )
    return 0


def peering_name(base: str, shard: int | None) -> str:
    """One peering per shard: in a shared one, the top replica would pause the other shards."""
    return base if shard is None else f"{base}-shard-{shard}"


def own_identity() -> str:
    """A process's identity when no slot is named: kopf's shape (user@host/time/random), chosen
    here so the vitals know which peering record is this replica's."""
    started = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{getpass.getuser()}@{socket.gethostname()}/{started}/{secrets.token_hex(2)}"


async def ensure_peering(namespace: str, name: str) -> None:
    _, api = await Orders.connect(namespace)
    async with api:
        await Peerings(api, namespace).ensure(name)
