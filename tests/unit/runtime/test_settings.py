"""Service settings: nested env groups, and development secrets refused in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import KafkaSettings, ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", env_nested_delimiter="__")


def test_nested_groups_come_from_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DB__URL", "postgresql://u@h:1/example")
    monkeypatch.setenv("EXAMPLE_OUTBOX__BATCH_SIZE", "7")
    monkeypatch.setenv("EXAMPLE_AUTH__SERVICE_TOKEN", "s3cret")
    settings = ExampleSettings()
    assert settings.db.url == "postgresql://u@h:1/example"
    assert settings.outbox.batch_size == 7
    assert settings.auth.service_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_production_refuses_the_development_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="service_token is the development default"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_AUTH__SERVICE_TOKEN", "a-real-token")
    assert ExampleSettings().environment == "production"


def test_production_refuses_the_development_jwt_secret_only_when_jwt_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_AUTH__SERVICE_TOKEN", "a-real-token")
    monkeypatch.setenv("EXAMPLE_AUTH__JWT_ENABLED", "true")
    with pytest.raises(ValidationError, match="jwt_secret is the development default"):
        ExampleSettings()


def test_bad_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_OUTBOX__BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match=r"outbox\.batch_size"):
        ExampleSettings()


def test_a_topic_prefix_prefixes_contract_topics_and_must_be_a_legal_topic_name() -> None:
    assert KafkaSettings(topic_prefix="staging.").topic("kubesaga.orders") == (
        "staging.kubesaga.orders"
    )
    assert KafkaSettings().topic("kubesaga.orders") == "kubesaga.orders"
    with pytest.raises(ValidationError, match="topic_prefix"):
        KafkaSettings(topic_prefix="no spaces/")
