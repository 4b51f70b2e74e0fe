"""Which failures are outages (retried for as long as they last) and which use up an event's
attempts (then dead-lettered): the consumer's budget is the event's, not the database's."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc
from kubernetes_asyncio.client.exceptions import ApiException

from operators.saga.bridge import api_outage
from services.runtime.consumer import PermanentEventError, is_outage


def wrapped(inner: BaseException) -> BaseException:
    """An error raised while handling ``inner``, as SQLAlchemy and handlers chain them."""
    try:
        try:
            raise inner
        except BaseException as e:
            raise RuntimeError("while applying the event") from e
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.InterfaceError("connection is closed"),
        sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        wrapped(ConnectionRefusedError(111, "Connection refused")),
    ],
)
def test_an_unreachable_dependency_is_an_outage(error: BaseException) -> None:
    assert is_outage(error)
    assert api_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug in the handler"),
        KeyError("sku"),
        PermanentEventError("contradicts the state"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        wrapped(ValueError("a bug")),
    ],
)
def test_an_error_of_the_event_or_the_code_uses_up_attempts(error: BaseException) -> None:
    assert not is_outage(error)
    assert not api_outage(error)


@pytest.mark.parametrize(
    ("status", "outage"), [(500, True), (503, True), (429, True), (422, False), (404, False)]
)
def test_the_kubernetes_api_restarting_is_an_outage_for_the_bridge(
    status: int, outage: bool
) -> None:
    assert api_outage(ApiException(status=status)) is outage
