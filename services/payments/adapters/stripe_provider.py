"""The Stripe payment provider: PaymentIntents and Refunds through the official SDK.

Chosen with ``PAYMENTS_PROVIDER=stripe``; locally it talks to stripe-mock
(``PAYMENTS_STRIPE__API_BASE``). Calls use the SDK's async methods over our httpx client, with
the SDK's own retries off (``services.runtime.resilience`` retries, so there is one retry
budget and one ``retries_total`` metric). Every call sends the idempotency key the service
layer derived from the order, so a retried call is answered with the first result.

Authorization creates and confirms a PaymentIntent (``confirm=True``, automatic capture) with
``metadata.orderId``, which is how webhooks find their payment. Error mapping:

- ``CardError`` → ``Declined`` with Stripe's ``decline_code`` (or its ``code``, e.g.
  ``expired_card``, ``incorrect_cvc``); a bad ``payment_method`` → ``Declined`` too.
- ``RateLimitError``, ``APIConnectionError``, 5xx, and 409 ``lock_timeout`` (a concurrent
  request with the same key) → ``TransientError``; Stripe's ``Stripe-Should-Retry`` header wins
  when present.
- Anything else (bad key, malformed request) → ``errors.ProviderRejected``: permanent.

Caveat: Stripe stores the result of a request that reached its API under the idempotency key,
5xx included, and replays it for 24 h; a 5xx that keeps coming back under one key is therefore
reported as unavailable until someone looks.
"""

from __future__ import annotations

import uuid

import stripe

from services.payments.adapters.stripe_http import AsyncHttpxClient
from services.payments.domain import errors, outcomes
from services.runtime.resilience import TransientError

NAME = "stripe"
AUTHORIZED_STATUSES = frozenset({"succeeded", "requires_capture"})
PENDING_STATUSES = frozenset({"processing", "requires_action", "requires_confirmation"})
_CONCURRENT_KEY_CODES = frozenset({"lock_timeout", "idempotency_key_in_use"})


def outcome_of(
    status: str, reference: str, *, error_code: str | None = None, error_message: str = ""
) -> outcomes.AuthorizationOutcome:
    """The outcome a confirmed PaymentIntent's ``status`` means.

    ``error_code`` and ``error_message`` come from the intent's ``last_payment_error``.
    """
    if status in AUTHORIZED_STATUSES:
        return outcomes.Authorized(reference)
    if status in PENDING_STATUSES:
        return outcomes.Pending(reference)
    if status == "canceled":
        return outcomes.Declined("canceled", "the payment was canceled", reference, "canceled")
    # requires_payment_method after a confirmation: the attempt failed; the error says why.
    return outcomes.Declined(error_code or status, error_message, reference)


def declined(error: stripe.CardError) -> outcomes.Declined:
    details = error.error
    intent = _field(details, "payment_intent")
    return outcomes.Declined(
        decline_code=_text(details, "decline_code") or error.code or "card_declined",
        message=error.user_message or "",
        reference=_text(intent, "id"),
    )


def _field(obj: object, name: str) -> object:
    """A Stripe object's field, None when absent (the SDK raises AttributeError for those)."""
    return getattr(obj, name, None) if obj is not None else None


def _text(obj: object, name: str) -> str | None:
    value = _field(obj, name)
    return value if isinstance(value, str) and value else None


def translate(error: stripe.StripeError) -> Exception:
    """A Stripe failure that is not a card decline: transient or permanent."""
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    message = f"stripe {type(error).__name__}: {error.user_message or error!r}"
    should_retry = headers.get("stripe-should-retry")
    transient = (
        should_retry == "true"
        if should_retry in ("true", "false")
        else (
            isinstance(error, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError)
            or (error.http_status is not None and error.http_status >= 500)
            or (error.http_status == 409 and error.code in _CONCURRENT_KEY_CODES)
        )
    )
    if transient:
        return TransientError(message, retry_after=_seconds(headers.get("retry-after")))
    return errors.ProviderRejected(message)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class StripeProvider:
    def __init__(self, client: stripe.StripeClient, http: AsyncHttpxClient) -> None:
        self._client = client
        self._http = http

    @classmethod
    def connect(cls, *, api_key: str, api_base: str, timeout: float) -> StripeProvider:
        http = AsyncHttpxClient(timeout=timeout)
        client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base}, http_client=http, max_network_retries=0
        )
        return cls(client, http)

    async def aclose(self) -> None:
        await self._http.close_async()

    @property
    def name(self) -> str:
        return NAME

    async def authorize(
        self,
        *,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> outcomes.AuthorizationOutcome:
        try:
            intent = await self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    # Server-side confirmation: no redirect-based methods, so no return_url.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "confirm": True,
                    "metadata": {"orderId": str(order_id)},
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as e:
            return declined(e)
        except stripe.InvalidRequestError as e:
            if e.param == "payment_method":  # no such PaymentMethod: the customer's, not ours
                return outcomes.Declined(
                    e.code or "invalid_payment_method",
                    e.user_message or "",
                    reason="invalid_payment_method",
                )
            raise translate(e) from e
        except stripe.StripeError as e:
            raise translate(e) from e
        error = intent.last_payment_error
        if error is None:
            return outcome_of(intent.status, intent.id)
        return outcome_of(
            intent.status,
            intent.id,
            error_code=_text(error, "decline_code") or _text(error, "code"),
            error_message=_text(error, "message") or "",
        )

    async def refund(
        self,
        *,
        order_id: uuid.UUID,
        reference: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> outcomes.Refunded:
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": reference, "metadata": {"orderId": str(order_id)}},
                {"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as e:
            if e.code == "charge_already_refunded":  # refunded before (the dashboard?): done
                return outcomes.Refunded(reference)
            raise translate(e) from e
        except stripe.StripeError as e:
            raise translate(e) from e
        return outcomes.Refunded(refund.id)

    async def cancel(
        self, *, order_id: uuid.UUID, reference: str, idempotency_key: str
    ) -> outcomes.CancellationOutcome:
        intents = self._client.v1.payment_intents
        try:
            intent = await intents.cancel_async(
                reference,
                {"cancellation_reason": "abandoned"},
                {"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as e:
            if e.code != "payment_intent_unexpected_state":
                raise translate(e) from e
            try:  # it left the cancelable states: succeeded (refund it) or canceled already
                intent = await intents.retrieve_async(reference)
            except stripe.StripeError as again:
                raise translate(again) from again
            if intent.status in AUTHORIZED_STATUSES:
                return outcomes.Authorized(intent.id)
            if intent.status != "canceled":
                raise errors.ProviderRejected(
                    f"stripe: intent {reference} cannot be canceled in status {intent.status}"
                ) from e
        except stripe.StripeError as e:
            raise translate(e) from e
        return outcomes.Canceled(intent.id)
