"""The payment provider port: what the service layer needs from Stripe or the simulator.

``adapters.simulated.SimulatedProvider`` and ``adapters.stripe_provider.StripeProvider``
implement it (structurally; adapters do not import the service layer). Contract:

- Every call carries an idempotency key derived from the order (``authorize-<orderId>``,
  ``refund-<orderId>``, ``cancel-<orderId>``): the provider answers a repeated key with the
  first call's result instead of acting twice. That is what makes our retries, and the retry
  after a crash between the provider's answer and our commit, safe.
- Business answers are return values (``Declined`` included); a failure that may pass raises
  ``services.runtime.resilience.TransientError``; anything else raised is permanent
  (``errors.ProviderRejected``: configuration or a bug, not the customer's card).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from services.payments.domain import outcomes


def authorize_key(order_id: uuid.UUID) -> str:
    return f"authorize-{order_id}"


def refund_key(order_id: uuid.UUID) -> str:
    return f"refund-{order_id}"


def cancel_key(order_id: uuid.UUID) -> str:
    return f"cancel-{order_id}"


class PaymentProvider(Protocol):
    @property
    def name(self) -> str:
        """Stored with each payment: ``simulated`` or ``stripe``."""
        ...

    async def authorize(
        self,
        *,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> outcomes.AuthorizationOutcome:
        """Secure ``amount`` (minor units); the intent must carry ``order_id`` for webhooks."""
        ...

    async def refund(
        self,
        *,
        order_id: uuid.UUID,
        reference: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> outcomes.Refunded:
        """Give back the whole of the authorized payment ``reference``."""
        ...

    async def cancel(
        self, *, order_id: uuid.UUID, reference: str, idempotency_key: str
    ) -> outcomes.CancellationOutcome:
        """Call off a pending authorization; ``Authorized`` if it succeeded meanwhile."""
        ...
