"""``python -m services.orders``: migrate, serve, and print the OpenAPI document.

The commands an operator (or a Kubernetes Job / init container) runs. ``serve`` runs the API
with its background workers (outbox relay and the saga-event consumer, each switchable); the
app comes from ``bootstrap.create_app``, handed in by ``__main__`` since entrypoints sit
below bootstrap. Settings come from ``ORDERS_*`` variables (see ``services.orders.settings``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import FastAPI

from services.orders.migrations import SCRIPT_LOCATION
from services.orders.settings import OrdersSettings
from services.runtime import migrations, observability

AppFactory = Callable[[OrdersSettings], FastAPI]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m services.orders", description="The kubesaga orders service."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrations.add_migrate_command(commands)
    serve = commands.add_parser(
        "serve", help="run the API, the outbox relay and the saga-event consumer"
    )
    serve.add_argument("--host", help="override ORDERS_HTTP__HOST")
    serve.add_argument("--port", type=int, help="override ORDERS_HTTP__PORT")
    serve.add_argument("--no-relay", action="store_true", help="do not run the outbox relay")
    serve.add_argument(
        "--no-consumer", action="store_true", help="do not consume inventory/payments events"
    )
    commands.add_parser("openapi", help="print the OpenAPI document (JSON) and exit")
    return root


def main(argv: Sequence[str], *, create_app: AppFactory) -> int:
    args = parser().parse_args(argv)
    settings = OrdersSettings()
    observability.configure_logging(settings.service_name, settings.telemetry)
    if args.command == "migrate":
        asyncio.run(migrations.upgrade(SCRIPT_LOCATION, settings.db.url, wait_seconds=args.wait))
        print(f"orders database migrated to head ({settings.db.url.rsplit('/', 1)[-1]})")
    elif args.command == "openapi":
        print(json.dumps(create_app(settings).openapi(), indent=2))
    else:
        workers = settings.workers.model_copy(
            update={
                "relay": settings.workers.relay and not args.no_relay,
                "consumer": settings.workers.consumer and not args.no_consumer,
            }
        )
        http = settings.http.model_copy(
            update={
                key: value
                for key, value in (("host", args.host), ("port", args.port))
                if value is not None
            }
        )
        serve(settings.model_copy(update={"workers": workers, "http": http}), create_app)
    return 0


def serve(settings: OrdersSettings, create_app: AppFactory) -> None:
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
