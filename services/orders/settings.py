"""The orders service's settings: the runtime's groups plus the catalog client and workers.

Built once by ``bootstrap`` (and the CLI) from ``ORDERS_*`` environment variables; nested
groups use ``__``. The ones a deployment sets:

- ``ORDERS_DB__URL``: its Postgres database (default ``.../orders`` on the local server)
- ``ORDERS_REDIS__URL`` (idempotency keys, the catalog's circuit breaker),
  ``ORDERS_KAFKA__BOOTSTRAP_SERVERS``, ``ORDERS_AUTH__SERVICE_TOKEN``, ``ORDERS_AUTH__JWT_*``,
  ``ORDERS_ENVIRONMENT`` (``production`` refuses the development secrets)
- ``ORDERS_HTTP__HOST`` / ``ORDERS_HTTP__PORT`` (default 8001)
- ``ORDERS_CATALOG__BASE_URL`` (inventory, default http://127.0.0.1:8002) and its timeout,
  retry and breaker knobs
- ``ORDERS_WORKERS__RELAY`` / ``ORDERS_WORKERS__CONSUMER``: what ``serve`` runs besides the API
- ``ORDERS_IDEMPOTENCY_TTL`` (ISO 8601, default ``PT24H``)
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import DatabaseSettings, HttpSettings, ServiceSettings


class CatalogSettings(BaseModel):
    """How orders reads prices from inventory's ``GET /products/{sku}``."""

    base_url: str = "http://127.0.0.1:8002"
    timeout: timedelta = timedelta(seconds=2)  # per attempt; the whole lookup stays ~5 s at worst
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial: timedelta = timedelta(milliseconds=100)
    backoff_max: timedelta = timedelta(seconds=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_timeout: timedelta = timedelta(seconds=15)
    max_connections: int = Field(default=50, ge=1)


class WorkerSettings(BaseModel):
    """Which background workers ``serve`` runs next to the API (each replica may run all)."""

    relay: bool = True
    consumer: bool = True


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERS_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "orders"
    db: DatabaseSettings = DatabaseSettings(
        url="postgresql+asyncpg://kubesaga@127.0.0.1:25432/orders"
    )
    http: HttpSettings = HttpSettings(port=8001)
    catalog: CatalogSettings = CatalogSettings()
    workers: WorkerSettings = WorkerSettings()
    consumer_group: str = "orders"
    idempotency_ttl: timedelta = timedelta(hours=24)
