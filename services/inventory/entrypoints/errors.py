"""Where every inventory error becomes an HTTP answer: one table from error class to problem.

Looked up along the exception's class hierarchy (starlette-style), so a new subclass answers
like its parent until it gets its own row. The API's exception handler renders through
``problem_for``. The types the saga operator matches on are in the inter-service contract:
``/problems/out-of-stock`` (with ``lines``) and ``/problems/reservation-closed`` (409).
"""

from __future__ import annotations

from typing import Any

from services.inventory.domain import errors
from services.runtime.web import PROBLEM_BASE as PROBLEM_BASE
from services.runtime.web import Problem as Problem
from services.runtime.web import problem_response as problem_response

_TABLE: dict[type[errors.InventoryError], tuple[int, str, str]] = {
    errors.InvalidRequest: (422, "invalid-request", "The request breaks a rule"),
    errors.ProductNotFound: (404, "product-not-found", "Product not found"),
    errors.ReservationNotFound: (404, "reservation-not-found", "Reservation not found"),
    errors.OutOfStock: (409, "out-of-stock", "Not enough stock for every line"),
    errors.ReservationClosed: (409, "reservation-closed", "The reservation is closed"),
    errors.ReservationCommitted: (409, "reservation-committed", "The stock is already sold"),
    errors.ReservationMismatch: (
        409,
        "reservation-mismatch",
        "The order was reserved with other items",
    ),
    errors.ReservationConflict: (409, "reservation-conflict", "The reservation forbids this"),
    errors.InventoryError: (500, "internal", "Internal error"),
}


def problem_for(error: errors.InventoryError) -> Problem:
    status, kind, title = next(_TABLE[cls] for cls in type(error).__mro__ if cls in _TABLE)
    extensions: dict[str, Any] = {}
    match error:
        case errors.InvalidRequest(problems=problems):
            extensions["problems"] = list(problems)
        case errors.OutOfStock(shortages=shortages):
            extensions["lines"] = [
                {
                    "sku": s.sku,
                    "requested": s.requested,
                    "available": s.available,
                    "reason": s.reason.value,
                }
                for s in shortages
            ]
        case errors.ReservationClosed(status=status_name):
            extensions["reservationStatus"] = str(status_name)
        case errors.ProductNotFound(sku=sku):
            extensions["sku"] = sku
    if isinstance(error, (errors.ReservationConflict, errors.ReservationNotFound)):
        extensions["orderId"] = str(error.order_id)
    detail = str(error) if status < 500 else "the service could not complete the request"
    return Problem(status, PROBLEM_BASE + kind, title, detail, extensions)
