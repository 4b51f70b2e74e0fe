"""The payments service's settings: the runtime's groups plus the provider and its guard.

Built once by ``bootstrap`` (and the CLI) from ``PAYMENTS_*`` variables, e.g.
``PAYMENTS_PROVIDER=stripe``, ``PAYMENTS_STRIPE__API_BASE=http://127.0.0.1:22111``,
``PAYMENTS_STRIPE__WEBHOOK_SECRET=whsec_...``, ``PAYMENTS_SIMULATOR__APPROVAL_RATE=0.9``,
``PAYMENTS_BREAKER__FAILURE_THRESHOLD=5``, ``PAYMENTS_WORKERS__RELAY=false``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import DatabaseSettings, HttpSettings, ServiceSettings

DEVELOPMENT_WEBHOOK_SECRET = "whsec_kubesaga_development_only"  # refused in production


class SimulatorSettings(BaseModel):
    """The simulated provider: Stripe's test cards, else these rates."""

    approval_rate: float = Field(default=0.95, ge=0.0, le=1.0)
    transient_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency: timedelta = timedelta(milliseconds=20)
    seed: int | None = None  # fixed: the same requests get the same decisions


class StripeSettings(BaseModel):
    api_key: SecretStr = SecretStr("")
    api_base: str = "https://api.stripe.com"
    timeout: timedelta = timedelta(seconds=10)  # per attempt
    webhook_secret: SecretStr = SecretStr(DEVELOPMENT_WEBHOOK_SECRET)
    webhook_tolerance: timedelta = timedelta(seconds=300)  # Stripe's default


class RetrySettings(BaseModel):
    """Retries of transient provider failures, within one request."""

    attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial: timedelta = timedelta(milliseconds=100)
    backoff_max: timedelta = timedelta(seconds=2)


class BreakerSettings(BaseModel):
    """The provider's circuit breaker, shared by every replica through Redis."""

    name: str = "payments-provider"
    namespace: str = "kubesaga"
    failure_threshold: int = Field(default=5, ge=1)
    failure_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    window: timedelta = timedelta(seconds=30)
    reset_timeout: timedelta = timedelta(seconds=30)


class WorkerSettings(BaseModel):
    """Which background workers ``serve`` runs next to the API (each replica may run all)."""

    relay: bool = True


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYMENTS_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "payments"
    db: DatabaseSettings = DatabaseSettings(
        url="postgresql+asyncpg://kubesaga@127.0.0.1:25432/payments"
    )
    http: HttpSettings = HttpSettings(port=8003)
    provider: Literal["simulated", "stripe"] = "simulated"
    simulator: SimulatorSettings = SimulatorSettings()
    stripe: StripeSettings = StripeSettings()
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    workers: WorkerSettings = WorkerSettings()

    @model_validator(mode="after")
    def _check_provider(self) -> Self:
        if self.provider == "stripe" and not self.stripe.api_key.get_secret_value():
            raise ValueError("provider is stripe but stripe.api_key is not set")
        if (
            self.environment == "production"
            and self.stripe.webhook_secret.get_secret_value() == DEVELOPMENT_WEBHOOK_SECRET
        ):
            raise ValueError("stripe.webhook_secret is the development default; set the real one")
        return self
