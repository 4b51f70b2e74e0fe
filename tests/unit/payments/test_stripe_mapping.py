"""How the Stripe adapter reads Stripe: intent statuses to outcomes, errors to retry or not.

Errors are built as the SDK builds them from an HTTP answer (status, JSON body, headers), so
the mapping is tested without a network; the adapter's calls run against stripe-mock in the
integration tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from services.payments.adapters import stripe_provider
from services.payments.domain import errors, outcomes
from services.runtime.resilience import TransientError


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("succeeded", outcomes.Authorized("pi_1")),
        ("requires_capture", outcomes.Authorized("pi_1")),
        ("requires_action", outcomes.Pending("pi_1")),
        ("processing", outcomes.Pending("pi_1")),
        ("requires_confirmation", outcomes.Pending("pi_1")),
        (
            "canceled",
            outcomes.Declined("canceled", "the payment was canceled", "pi_1", "canceled"),
        ),
        (
            "requires_payment_method",
            outcomes.Declined("requires_payment_method", "", "pi_1"),
        ),
    ],
)
def test_intent_status(status: str, expected: outcomes.AuthorizationOutcome) -> None:
    assert stripe_provider.outcome_of(status, "pi_1") == expected


def test_a_failed_attempt_reports_the_last_error() -> None:
    outcome = stripe_provider.outcome_of(
        "requires_payment_method", "pi_2", error_code="insufficient_funds", error_message="no"
    )
    assert outcome == outcomes.Declined("insufficient_funds", "no", "pi_2")


def card_error(code: str, decline_code: str | None) -> stripe.CardError:
    body: dict[str, Any] = {
        "error": {
            "type": "card_error",
            "code": code,
            "message": "Your card was declined.",
            "payment_intent": {"id": "pi_9", "object": "payment_intent"},
        }
    }
    if decline_code:
        body["error"]["decline_code"] = decline_code
    error = make(stripe.CardError, "Your card was declined.", None, code, json_body=body)
    assert isinstance(error, stripe.CardError)
    return error


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        ("card_declined", "insufficient_funds", "insufficient_funds"),
        ("card_declined", "generic_decline", "generic_decline"),
        ("expired_card", None, "expired_card"),
        ("incorrect_cvc", None, "incorrect_cvc"),
    ],
)
def test_card_errors_are_declines(code: str, decline_code: str | None, expected: str) -> None:
    declined = stripe_provider.declined(card_error(code, decline_code))
    assert declined == outcomes.Declined(expected, "Your card was declined.", "pi_9")


def make(cls: type[stripe.StripeError], *args: Any, **kwargs: Any) -> stripe.StripeError:
    """Some SDK error classes have untyped constructors; build them all the same way."""
    factory: Any = cls
    error: stripe.StripeError = factory(*args, **kwargs)
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (stripe.RateLimitError("slow down", http_status=429), True),
        (make(stripe.APIConnectionError, "refused"), True),
        (stripe.APIError("oops", http_status=500), True),
        (stripe.StripeError("bad gateway", http_status=502), True),
        (make(stripe.InvalidRequestError, "busy", None, "lock_timeout", http_status=409), True),
        (stripe.AuthenticationError("bad key", http_status=401), False),
        (stripe.PermissionError("no", http_status=403), False),
        (
            make(stripe.InvalidRequestError, "bad", "amount", "parameter_invalid", http_status=400),
            False,
        ),
        (stripe.IdempotencyError("reused key", http_status=400), False),
        # Stripe's own verdict wins over the status code.
        (stripe.APIError("no", http_status=500, headers={"Stripe-Should-Retry": "false"}), False),
        (stripe.StripeError("yes", http_status=400, headers={"Stripe-Should-Retry": "true"}), True),
    ],
)
def test_errors_are_transient_or_permanent(error: stripe.StripeError, transient: bool) -> None:
    translated = stripe_provider.translate(error)
    expected = TransientError if transient else errors.ProviderRejected
    assert type(translated) is expected
    assert type(error).__name__ in str(translated)


def test_retry_after_is_carried_on() -> None:
    error = stripe.RateLimitError("slow down", http_status=429, headers={"Retry-After": "7"})
    translated = stripe_provider.translate(error)
    assert isinstance(translated, TransientError) and translated.retry_after == 7.0
