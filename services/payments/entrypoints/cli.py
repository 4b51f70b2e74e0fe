"""``python -m services.payments``: migrate, serve, and print the OpenAPI document.

The commands an operator (or a Kubernetes Job / init container) runs. ``serve`` runs the API
with the outbox relay (switchable); the app comes from ``bootstrap.create_app``, handed in by
``__main__`` since entrypoints sit below bootstrap. Settings come from ``PAYMENTS_*``
variables (see ``services.payments.settings``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import FastAPI

from services.payments.migrations import SCRIPT_LOCATION
from services.payments.settings import PaymentsSettings
from services.runtime import migrations, observability

AppFactory = Callable[[PaymentsSettings], FastAPI]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m services.payments", description="The kubesaga payments service."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrations.add_migrate_command(commands)
    serve = commands.add_parser("serve", help="run the API and the outbox relay")
    serve.add_argument("--host", help="override PAYMENTS_HTTP__HOST")
    serve.add_argument("--port", type=int, help="override PAYMENTS_HTTP__PORT")
    serve.add_argument("--no-relay", action="store_true", help="do not run the outbox relay")
    commands.add_parser("openapi", help="print the OpenAPI document (JSON) and exit")
    return root


def main(argv: Sequence[str], *, create_app: AppFactory) -> int:
    args = parser().parse_args(argv)
    settings = PaymentsSettings()
    observability.configure_logging(settings.service_name, settings.telemetry)
    if args.command == "migrate":
        asyncio.run(migrations.upgrade(SCRIPT_LOCATION, settings.db.url, wait_seconds=args.wait))
        print(f"payments database migrated to head ({settings.db.url.rsplit('/', 1)[-1]})")
    elif args.command == "openapi":
        print(json.dumps(create_app(settings).openapi(), indent=2))
    else:
        workers = settings.workers.model_copy(
            update={"relay": settings.workers.relay and not args.no_relay}
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


def serve(settings: PaymentsSettings, create_app: AppFactory) -> None:
    """Run the app under uvicorn until SIGTERM/SIGINT; the lifespan stops the relay."""
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
