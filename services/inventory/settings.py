"""The inventory service's settings: the runtime groups plus reservation TTL and the sweeper.

Built once by ``bootstrap`` (and the CLI) from ``INVENTORY_*`` environment variables; nested
groups use ``__``. The ones a deployment sets:

- ``INVENTORY_DB__URL``: its Postgres database (default ``.../inventory`` on the local server)
- ``INVENTORY_KAFKA__BOOTSTRAP_SERVERS``, ``INVENTORY_AUTH__SERVICE_TOKEN``,
  ``INVENTORY_ENVIRONMENT`` (``production`` refuses the development token)
- ``INVENTORY_HTTP__HOST`` / ``INVENTORY_HTTP__PORT`` (default 8002)
- ``INVENTORY_RESERVATION_TTL`` (ISO 8601 such as ``PT15M``, default 15 minutes)
- ``INVENTORY_SWEEPER__ENABLED``, ``INVENTORY_SWEEPER__INTERVAL``, ``INVENTORY_SWEEPER__BATCH_SIZE``
- ``INVENTORY_RELAY_ENABLED``: run the outbox relay in ``serve`` (default true);
  ``INVENTORY_OUTBOX__POLL_INTERVAL``, ``INVENTORY_OUTBOX__BATCH_SIZE`` tune it
- ``INVENTORY_HTTP__MAX_BODY_BYTES`` (64 KiB), ``INVENTORY_TELEMETRY__LOG_LEVEL``,
  ``INVENTORY_TELEMETRY__LOG_JSON``
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import DatabaseSettings, HttpSettings, ServiceSettings


class SweeperSettings(BaseModel):
    """The background worker that expires reservations past their TTL."""

    enabled: bool = True
    interval: timedelta = timedelta(seconds=5)
    batch_size: int = Field(default=100, ge=1, le=10_000)


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    service_name: str = "inventory"
    db: DatabaseSettings = DatabaseSettings(
        url="postgresql+asyncpg://kubesaga@127.0.0.1:25432/inventory"
    )
    http: HttpSettings = HttpSettings(port=8002)
    reservation_ttl: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    sweeper: SweeperSettings = SweeperSettings()
    relay_enabled: bool = True
