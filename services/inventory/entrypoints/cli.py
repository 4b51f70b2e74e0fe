"""``python -m services.inventory``: migrate, seed, sweep and serve.

The commands an operator (or a Kubernetes Job / init container) runs. ``serve`` runs the API
with its background workers (outbox relay and expiry sweeper, each switchable); the app itself
comes from ``bootstrap.create_app``, handed in by ``__main__`` since entrypoints sit below
bootstrap. Settings come from ``INVENTORY_*`` variables (see ``services.inventory.settings``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.inventory.adapters import catalog_file
from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain.stock import Product
from services.inventory.entrypoints.sweeper import ExpirySweeper
from services.inventory.migrations import SCRIPT_LOCATION
from services.inventory.service_layer import handlers
from services.inventory.settings import InventorySettings
from services.runtime import db, migrations, observability

AppFactory = Callable[[InventorySettings], FastAPI]

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m services.inventory", description="The kubesaga inventory service."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrations.add_migrate_command(commands)
    seed = commands.add_parser("seed", help="load a product catalog (insert or refresh)")
    seed.add_argument(
        "--file",
        type=Path,
        default=catalog_file.DEFAULT_CATALOG,
        help="catalog JSON (default: the demo catalog shipped with the service)",
    )
    seed.add_argument(
        "--reset-stock",
        action="store_true",
        help="bring known products' on-hand stock back to the catalog's (keeps reservations)",
    )
    sweep = commands.add_parser(
        "sweep", help="expire reservations past their TTL (until stopped, or --once)"
    )
    sweep.add_argument("--once", action="store_true", help="one pass, then exit")
    serve = commands.add_parser("serve", help="run the API, the outbox relay and the sweeper")
    serve.add_argument("--host", help="override INVENTORY_HTTP__HOST")
    serve.add_argument("--port", type=int, help="override INVENTORY_HTTP__PORT")
    serve.add_argument("--no-relay", action="store_true", help="do not run the outbox relay")
    serve.add_argument("--no-sweeper", action="store_true", help="do not run the sweeper")
    return root


def main(argv: Sequence[str], *, create_app: AppFactory) -> int:
    args = parser().parse_args(argv)
    settings = InventorySettings()
    observability.configure_logging(settings.service_name, settings.telemetry)
    if args.command == "migrate":
        asyncio.run(migrations.upgrade(SCRIPT_LOCATION, settings.db.url, wait_seconds=args.wait))
        print(f"inventory database migrated to head ({_database(settings)})")
    elif args.command == "seed":
        try:
            catalog = catalog_file.load(args.file)
        except catalog_file.CatalogError as e:
            print(f"seed: {e}", file=sys.stderr)
            return 2
        count = asyncio.run(_seed(settings, catalog, args.reset_stock))
        print(f"seeded {count} products from {args.file}")
    elif args.command == "sweep" and args.once:
        print(f"expired {asyncio.run(_sweep_once(settings))} reservations")
    elif args.command == "sweep":
        asyncio.run(_sweep_until_stopped(settings))
    else:
        updates = {"relay_enabled": settings.relay_enabled and not args.no_relay}
        sweeper = settings.sweeper.model_copy(
            update={"enabled": settings.sweeper.enabled and not args.no_sweeper}
        )
        http = settings.http.model_copy(
            update={
                key: value
                for key, value in (("host", args.host), ("port", args.port))
                if value is not None
            }
        )
        settings = settings.model_copy(update={**updates, "sweeper": sweeper, "http": http})
        serve(settings, create_app)
    return 0


def serve(settings: InventorySettings, create_app: AppFactory) -> None:
    """Run the app under uvicorn until SIGTERM/SIGINT; the lifespan stops the workers."""
    observability.configure_tracing(settings.service_name, settings.telemetry)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http.host,
        port=settings.http.port,
        timeout_graceful_shutdown=settings.http.graceful_shutdown_seconds,
        log_config=None,  # the app's telemetry configures logging
        proxy_headers=True,
    )
    uvicorn.Server(config).run()


async def _seed(settings: InventorySettings, catalog: list[Product], reset_stock: bool) -> int:
    engine = db.create_engine(settings.db)
    try:
        uow = InventoryUnitOfWork(db.session_factory(engine))
        return await handlers.seed(uow, catalog=catalog, reset_stock=reset_stock)
    finally:
        await engine.dispose()


async def _sweep_once(settings: InventorySettings) -> int:
    engine = db.create_engine(settings.db)
    try:
        sessions = db.session_factory(engine)
        return await ExpirySweeper(
            lambda: InventoryUnitOfWork(sessions), settings.sweeper
        ).run_once()
    finally:
        await engine.dispose()


async def _sweep_until_stopped(settings: InventorySettings) -> None:
    """The sweeper as a process of its own (``serve --no-sweeper`` elsewhere), until a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = db.create_engine(settings.db)
    try:
        sessions = db.session_factory(engine)
        async with ExpirySweeper(lambda: InventoryUnitOfWork(sessions), settings.sweeper):
            await stop.wait()
    finally:
        await engine.dispose()


def _database(settings: InventorySettings) -> str:
    return settings.db.url.rsplit("/", 1)[-1]
