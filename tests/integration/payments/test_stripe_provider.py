"""The Stripe adapter against stripe-mock: requests are accepted and answers parsed.

stripe-mock validates every request against Stripe's OpenAPI spec but is stateless (its
PaymentIntents come back in a fixed status), so these tests prove the calls are well formed
and the answers read; declines by card are covered with the simulated provider and by the
unit tests of the error mapping.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.local.endpoints import Endpoints
from services.payments.adapters.stripe_provider import StripeProvider
from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import errors, outcomes
from services.payments.service_layer import handlers
from services.payments.service_layer.guard import ProviderGuard
from services.runtime.resilience import TransientError
from tests.integration.payments.support import events_for, fast_retries, payment_row

pytestmark = pytest.mark.platform


@pytest_asyncio.fixture
async def stripe_mock(platform: Endpoints) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider.connect(
        api_key=platform.stripe_api_key, api_base=platform.stripe_api_base, timeout=5
    )
    yield provider
    await provider.aclose()


async def test_authorize_creates_a_confirmed_intent(stripe_mock: StripeProvider) -> None:
    order_id = uuid.uuid4()
    outcome = await stripe_mock.authorize(
        order_id=order_id,
        amount=1999,
        currency="EUR",
        payment_method="pm_card_visa",
        idempotency_key=f"authorize-{order_id}",
    )
    assert isinstance(outcome, outcomes.Authorized | outcomes.Pending | outcomes.Declined)
    assert outcome.reference is not None and outcome.reference.startswith("pi_")
    assert stripe_mock.name == "stripe"


async def test_refund_and_cancel_are_accepted(stripe_mock: StripeProvider) -> None:
    order_id = uuid.uuid4()
    refunded = await stripe_mock.refund(
        order_id=order_id,
        reference="pi_123",
        amount=1999,
        currency="EUR",
        idempotency_key=f"refund-{order_id}",
    )
    assert refunded.reference.startswith("re_")
    canceled = await stripe_mock.cancel(
        order_id=order_id, reference="pi_123", idempotency_key=f"cancel-{order_id}"
    )
    assert canceled == outcomes.Canceled("pi_123")


async def test_a_bad_api_key_is_permanent(platform: Endpoints) -> None:
    provider = StripeProvider.connect(
        api_key="not-a-key", api_base=platform.stripe_api_base, timeout=5
    )
    try:
        with pytest.raises(errors.ProviderRejected, match="AuthenticationError"):
            await provider.authorize(
                order_id=uuid.uuid4(),
                amount=100,
                currency="EUR",
                payment_method="pm_card_visa",
                idempotency_key="authorize-x",
            )
    finally:
        await provider.aclose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_stripe_is_transient(platform: Endpoints) -> None:
    provider = StripeProvider.connect(
        api_key=platform.stripe_api_key, api_base=f"http://127.0.0.1:{closed_port()}", timeout=2
    )
    try:
        with pytest.raises(TransientError, match="APIConnectionError"):
            await provider.refund(
                order_id=uuid.uuid4(),
                reference="pi_1",
                amount=100,
                currency="EUR",
                idempotency_key="refund-x",
            )
    finally:
        await provider.aclose()


async def test_the_service_stores_what_stripe_answered(
    stripe_mock: StripeProvider, uow: Callable[[], PaymentsUnitOfWork], engine: AsyncEngine
) -> None:
    order_id = uuid.uuid4()
    result = await handlers.authorize(
        uow=uow(),
        provider=stripe_mock,
        guard=ProviderGuard(fast_retries()),
        order_id=order_id,
        amount=2500,
        currency="USD",
        payment_method="pm_card_visa",
    )
    row = await payment_row(engine, order_id)
    assert (row.provider, row.provider_reference) == ("stripe", result.payment.provider_reference)
    assert row.status == result.payment.status.value
    assert len(await events_for(engine, order_id)) == (0 if row.status == "pending" else 1)
