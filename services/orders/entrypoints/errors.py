"""Where every orders error becomes an HTTP answer: one table from error class to problem.

Looked up along the exception's class hierarchy (starlette-style), so a new subclass answers
like its parent until it gets its own row. The API's exception handler and the idempotency
wrapper (which stores 4xx answers under the key) both render through ``problem_for``.
"""

from __future__ import annotations

import math
from typing import Any

from services.orders.domain import errors
from services.orders.service_layer import paging
from services.runtime.web import PROBLEM_BASE as PROBLEM_BASE
from services.runtime.web import Problem as Problem
from services.runtime.web import problem_response as problem_response

_TABLE: dict[type[errors.OrdersError], tuple[int, str, str]] = {
    errors.UnknownSkus: (422, "unknown-sku", "Unknown SKU"),
    errors.CurrencyMismatch: (422, "currency-mismatch", "Currency does not match the catalog"),
    errors.AmountOutOfRange: (422, "amount-out-of-range", "The order's amount is out of range"),
    errors.OrderRejected: (422, "invalid-order", "The order cannot be taken"),
    errors.OrderNotFound: (404, "order-not-found", "Order not found"),
    errors.OrderConflict: (409, "order-conflict", "The order's phase forbids this"),
    errors.TermsDiffer: (409, "terms-differ", "The order was placed on other terms"),
    errors.CatalogUnavailable: (503, "catalog-unavailable", "Prices cannot be read now"),
    paging.InvalidCursor: (400, "invalid-cursor", "Invalid cursor"),
    errors.OrdersError: (400, "bad-request", "Bad request"),
}


def problem_for(error: errors.OrdersError) -> Problem:
    status, kind, title = next(_TABLE[cls] for cls in type(error).__mro__ if cls in _TABLE)
    extensions: dict[str, Any] = {}
    headers: dict[str, str] = {}
    match error:
        case errors.UnknownSkus(skus=skus):
            extensions["skus"] = list(skus)
        case errors.CurrencyMismatch(currency=currency, mismatched=mismatched):
            extensions["currency"] = currency
            extensions["skus"] = [
                {"sku": sku, "currency": theirs} for sku, theirs in mismatched.items()
            ]
        case errors.AmountOutOfRange(amount=amount, minimum=minimum, maximum=maximum):
            # Named like a validation error's field: the request's items make the amount.
            extensions["errors"] = [{"location": "body.items", "message": str(error)}]
            extensions["amount"] = {"value": amount, "minimum": minimum, "maximum": maximum}
        case errors.OrderConflict(phase=phase):
            extensions["phase"] = phase
        case errors.TermsDiffer(differences=differences):
            extensions["differences"] = list(differences)
        case errors.CatalogUnavailable(retry_after=retry_after):
            headers["Retry-After"] = str(max(math.ceil(retry_after), 1))
    if isinstance(error, errors.OrderRejected):
        extensions["problems"] = list(error.problems)
    return Problem(status, PROBLEM_BASE + kind, title, str(error), extensions, headers)
