"""The payments service's errors, one small hierarchy mapped to problem+json in one place.

Raised by the domain and the service layer; ``entrypoints.errors`` maps each class to an HTTP
status: ``InvalidPayment`` is the client's fault (422), ``PaymentConflict`` and its kin ask
for something the stored payment forbids (409), ``ProviderUnavailable`` is temporary (503).
A declined card is not an error: it is an outcome, stored and answered with 402.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable


class PaymentsError(Exception):
    """Base of every error the payments service raises on purpose."""


class InvalidPayment(PaymentsError):
    """The payment as asked cannot be attempted; ``problems`` says why, one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class PaymentConflict(PaymentsError):
    """The order's stored payment forbids what was asked."""

    def __init__(self, order_id: uuid.UUID, message: str) -> None:
        self.order_id = order_id
        super().__init__(message)


class PaymentClosed(PaymentConflict):
    """The order was compensated (refund asked) before any payment: authorizing is refused."""

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(
            order_id, f"order {order_id} was already compensated; it cannot be authorized"
        )


class PaymentMismatch(PaymentConflict):
    """A repeat authorization for an order asks for a different amount than the stored one."""

    def __init__(self, order_id: uuid.UUID, stored: str, asked: str) -> None:
        super().__init__(
            order_id, f"order {order_id} already has a payment of {stored}, not {asked}"
        )


class InvalidTransition(PaymentConflict):
    """A state change the payment's status forbids, e.g. refunding a failed payment."""

    def __init__(self, order_id: uuid.UUID, status: str, change: str) -> None:
        self.status = status
        self.change = change
        super().__init__(order_id, f"payment of order {order_id} is {status}; cannot {change}")


class ProviderUnavailable(PaymentsError):
    """The provider cannot be reached now (retries exhausted or circuit open): try later."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PaymentBusy(ProviderUnavailable):
    """Another request holds this order's payment (a slow provider call): try again shortly."""

    def __init__(self, order_id: uuid.UUID) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id}'s payment is being processed", retry_after=1.0)


class ProviderRejected(PaymentsError):
    """The provider refused the call for a reason that is neither the card nor transient:
    a bad API key, a malformed request. Retrying will not help; someone has to look."""


class InvalidWebhook(PaymentsError):
    """A webhook request that is not a verified provider event: missing, wrong or stale
    signature, or a body that is not an event. Answered 400; nothing is recorded."""


class Unauthorized(PaymentsError):
    """An internal endpoint was called without the service token."""
