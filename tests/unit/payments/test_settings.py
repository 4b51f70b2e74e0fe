"""Payments settings: read from PAYMENTS_* variables, and refusing what cannot work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.payments.settings import DEVELOPMENT_WEBHOOK_SECRET, PaymentsSettings


def test_defaults_are_the_local_simulator() -> None:
    settings = PaymentsSettings()
    assert (settings.provider, settings.http.port, settings.service_name) == (
        "simulated",
        8003,
        "payments",
    )
    assert settings.db.url.endswith("/payments")
    assert settings.stripe.webhook_tolerance == timedelta(seconds=300)


def test_the_environment_chooses_stripe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_PROVIDER", "stripe")
    monkeypatch.setenv("PAYMENTS_STRIPE__API_KEY", "sk_test_123")
    monkeypatch.setenv("PAYMENTS_STRIPE__API_BASE", "http://127.0.0.1:12111")
    monkeypatch.setenv("PAYMENTS_SIMULATOR__APPROVAL_RATE", "0.5")
    settings = PaymentsSettings()
    assert settings.provider == "stripe"
    assert settings.stripe.api_key.get_secret_value() == "sk_test_123"
    assert settings.stripe.api_base == "http://127.0.0.1:12111"
    assert settings.simulator.approval_rate == 0.5


def test_stripe_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_PROVIDER", "stripe")
    with pytest.raises(ValidationError, match="api_key"):
        PaymentsSettings()


def test_production_refuses_the_development_webhook_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENTS_ENVIRONMENT", "production")
    monkeypatch.setenv("PAYMENTS_AUTH__SERVICE_TOKEN", "a-real-token")
    with pytest.raises(ValidationError, match="webhook_secret"):
        PaymentsSettings()
    monkeypatch.setenv("PAYMENTS_STRIPE__WEBHOOK_SECRET", "whsec_real")
    settings = PaymentsSettings()
    assert settings.stripe.webhook_secret.get_secret_value() != DEVELOPMENT_WEBHOOK_SECRET


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYMENTS_PROVIDER", "paypal"),
        ("PAYMENTS_SIMULATOR__APPROVAL_RATE", "1.5"),
        ("PAYMENTS_RETRY__ATTEMPTS", "0"),
    ],
)
def test_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        PaymentsSettings()
