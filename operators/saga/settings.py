"""The saga operator's settings: ``SAGA_*`` environment variables, built at start-up.

Nested groups use ``__`` like the services' (``SAGA_DEADLINES__PAYMENT_SECONDS=60``,
``SAGA_KAFKA__BOOTSTRAP_SERVERS``). Production refuses the development service token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from operators.saga import machine
from services.runtime.settings import (
    DEVELOPMENT_SERVICE_TOKEN,
    ConsumerSettings,
    KafkaSettings,
    TelemetrySettings,
)


class ServiceUrls(BaseModel):
    orders: str = "http://127.0.0.1:8001"
    inventory: str = "http://127.0.0.1:8002"
    payments: str = "http://127.0.0.1:8003"


class DeadlineSettings(BaseModel):
    """Defaults for every Order; an Order's ``spec.deadlines`` overrides them."""

    inventory_seconds: int = Field(default=30, ge=1)
    payment_seconds: int = Field(default=60, ge=1)


class RetrySettings(BaseModel):
    """Transient failures of one step: exponential backoff with jitter, up to a limit."""

    max_attempts: int = Field(default=8, ge=1)
    backoff_initial: timedelta = timedelta(milliseconds=500)
    backoff_max: timedelta = timedelta(seconds=10)
    # A saga whose compensation ran out of attempts (phase Failed) keeps trying this often.
    failed_interval: timedelta = timedelta(minutes=1)
    request_timeout: timedelta = timedelta(seconds=10)


class ShardSettings(BaseModel):
    """``count`` shards; the bridge labels each Order, an operator replica handles ``index``."""

    count: int = Field(default=1, ge=1, le=1024)
    index: int | None = Field(default=None, ge=0)  # None: handle every Order

    @model_validator(mode="after")
    def _index_in_range(self) -> Self:
        if self.index is not None and self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the count {self.count}")
        return self


class SagaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGA_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    namespace: str = "kubesaga"  # where the bridge creates Orders and the operator watches
    service_token: SecretStr = SecretStr(DEVELOPMENT_SERVICE_TOKEN)
    services: ServiceUrls = ServiceUrls()
    deadlines: DeadlineSettings = DeadlineSettings()
    retry: RetrySettings = RetrySettings()
    shards: ShardSettings = ShardSettings()
    ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    bridge_enabled: bool = True
    bridge_group: str = "saga-bridge"
    kafka: KafkaSettings = KafkaSettings(client_id="saga-operator")
    consumer: ConsumerSettings = ConsumerSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    metrics_port: int = Field(default=9090, ge=0, le=65535)  # 0: no metrics endpoint
    # How long a silent replica's peering record counts: a standby takes over this long after
    # the active replica dies without saying so (kill -9, node loss). kopf's default.
    peering_lifetime_seconds: int = Field(default=60, ge=10, le=3600)

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Self:
        if (
            self.environment == "production"
            and self.service_token.get_secret_value() == DEVELOPMENT_SERVICE_TOKEN
        ):
            raise ValueError("SAGA_SERVICE_TOKEN must be set in production")
        return self

    def limits(self) -> machine.RetryLimits:
        return machine.RetryLimits(
            forward=self.retry.max_attempts, compensation=self.retry.max_attempts
        )
