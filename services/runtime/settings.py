"""Settings groups shared by every service, read from the environment by pydantic-settings.

Each service declares one ``ServiceSettings`` subclass with its own prefix (``ORDERS_``,
``INVENTORY_``, ``PAYMENTS_``) and builds it at start-up, never at import time. Nested groups
are set with ``__``: ``ORDERS_DB__URL``, ``ORDERS_KAFKA__BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SERVICE_TOKEN = "kubesaga-dev-service-token"  # refused outside development
DEVELOPMENT_JWT_SECRET = "kubesaga-dev-jwt-secret-change-me-please"


class DatabaseSettings(BaseModel):
    """The service's own Postgres database (one per service on the shared server)."""

    url: str = "postgresql+asyncpg://kubesaga@127.0.0.1:25432/kubesaga"
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    statement_timeout_ms: int = Field(default=10_000, ge=100)


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:29092"
    client_id: str = "kubesaga"
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=1000)
    # Deployments sharing one cluster (a test run next to the demo, staging next to
    # production) keep their events apart: each topic this process writes or reads is the
    # prefix plus the contract's name (``kubesaga.orders`` -> ``staging.kubesaga.orders``).
    topic_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._-]*$")
    # How long start-up waits for a broker that does not answer yet (a pod starting beside its
    # Kafka); zero fails at once, as a process beside a running cluster should.
    startup_wait: timedelta = Field(default=timedelta(0), ge=timedelta(0))

    def topic(self, name: str) -> str:
        """The cluster's name for the contract's topic ``name``."""
        return self.topic_prefix + name


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:26379/0"


class OutboxSettings(BaseModel):
    """How the relay drains the outbox table into Kafka."""

    batch_size: int = Field(default=100, ge=1, le=10_000)
    poll_interval: timedelta = timedelta(milliseconds=200)
    retention: timedelta = timedelta(days=7)
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)


class ConsumerSettings(BaseModel):
    """How inbox consumers retry a failing event before it goes to the dead-letter topic."""

    max_attempts: int = Field(default=5, ge=1)
    # Where a new consumer group starts. "earliest" loses nothing; "latest" suits a fresh
    # group that must ignore history (a test's own bridge on shared topics).
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    backoff_initial: timedelta = timedelta(milliseconds=200)
    backoff_max: timedelta = timedelta(seconds=10)


class AuthSettings(BaseModel):
    """Service-to-service token for internal endpoints; optional JWT bearer auth for public ones."""

    service_token: SecretStr = SecretStr(DEVELOPMENT_SERVICE_TOKEN)
    jwt_enabled: bool = False
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_algorithms: list[str] = ["HS256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = None  # e.g. http://otel-collector:4318; None keeps spans in-process
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    graceful_shutdown_seconds: int = Field(default=20, ge=0)


class ServiceSettings(BaseSettings):
    """The groups every service has. Subclasses set ``env_prefix`` and add their own fields."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = "kubesaga"
    environment: Literal["development", "test", "production"] = "development"
    db: DatabaseSettings = DatabaseSettings()
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    outbox: OutboxSettings = OutboxSettings()
    consumer: ConsumerSettings = ConsumerSettings()
    auth: AuthSettings = AuthSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    http: HttpSettings = HttpSettings()

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Self:
        """A production deployment that forgot to set a secret must not start with ours."""
        if self.environment != "production":
            return self
        if self.auth.service_token.get_secret_value() == DEVELOPMENT_SERVICE_TOKEN:
            raise ValueError("auth.service_token is the development default; set a real token")
        if (
            self.auth.jwt_enabled
            and self.auth.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
        ):
            raise ValueError("auth.jwt_secret is the development default; set a real secret")
        return self
