"""The orders HTTP routes: the public order API and the saga operator's internal commands.

Routes only translate: they validate with ``schemas``, call one ``service_layer.handlers``
function with the process's ``Context`` (attached by bootstrap's lifespan), and render the
result; every error is rendered by ``errors.problem_for``. ``POST /orders`` runs under the
Idempotency-Key wrapper of ``services.runtime.idempotency_http``, which stores its 2xx and
4xx answers (a 503 releases the key, so the client's retry runs afresh).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.domain import errors as domain_errors
from services.orders.domain import model
from services.orders.domain.catalog import Catalog
from services.orders.entrypoints import errors, schemas
from services.orders.service_layer import handlers
from services.runtime import fields, idempotency_http
from services.runtime.idempotency import MAX_KEY_LENGTH, IdempotencyStore


@dataclass(frozen=True)
class Context:
    """The process-wide collaborators the routes need; bootstrap builds and attaches it."""

    uow: Callable[[], OrdersUnitOfWork]
    catalog: Catalog
    idempotency: IdempotencyStore
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the outbox relay


def attach(app: FastAPI, context: Context) -> None:
    app.state.orders = context


def _context(request: Request) -> Context:
    context: Context | None = getattr(request.app.state, "orders", None)
    if context is None:
        raise RuntimeError("the orders API is used before its lifespan attached a Context")
    return context


ContextDep = Annotated[Context, Depends(_context)]

_PROBLEM: dict[str, Any] = {"application/problem+json": {"schema": {"type": "object"}}}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem answers a route documents; 400, 401 and 422 (parsing, auth, validation) apply
    to every route."""
    described = {
        400: "Bad request (e.g. a body that cannot be parsed, a cursor we did not issue)",
        401: "Missing or invalid credentials (service token, or JWT when enabled)",
        404: "No such order",
        409: "The order's phase forbids this",
        422: "The request or the order is invalid",
        503: "Temporarily unavailable; see Retry-After",
    }
    return {
        status: {"description": described[status], "content": _PROBLEM}
        for status in sorted({400, 401, 422, *statuses})
    }


public = APIRouter(tags=["orders"])
internal = APIRouter(tags=["internal"])


@public.post(
    "/orders",
    status_code=201,
    response_model=schemas.OrderOut,
    responses={**_responses(503), **idempotency_http.RESPONSES},
    summary="Place an order, priced from the inventory catalog",
)
async def create_order(
    body: schemas.CreateOrder,
    request: Request,
    key: idempotency_http.IdempotencyKey,
    context: ContextDep,
) -> Response:
    async def place() -> Response:
        order = await handlers.place_order(
            uow=context.uow(),
            catalog=context.catalog,
            customer_id=body.customer_id,
            items=[model.RequestedItem(item.sku, item.quantity) for item in body.items],
            currency=body.currency,
            payment_method=body.payment_method,
        )
        context.on_commit()
        return _json(schemas.order_out(order), 201, {"Location": f"/orders/{order.id}"})

    return await idempotency_http.run_idempotent(
        context.idempotency,
        request,
        key,
        place,
        scope=getattr(request.state, "subject", ""),  # the JWT subject, when auth is on
        render_error=render_error,
    )


@public.get(
    "/orders/{order_id}",
    response_model=schemas.OrderDetail,
    responses=_responses(404),
    summary="An order with its phase and saga timeline",
)
async def get_order(order_id: uuid.UUID, context: ContextDep) -> schemas.OrderDetail:
    order = await handlers.get_order(uow=context.uow(), order_id=order_id)
    return schemas.order_detail(order)


@public.get(
    "/orders",
    response_model=schemas.OrderPage,
    responses=_responses(400),
    summary="Orders, newest first, by keyset pages",
)
async def list_orders(
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=handlers.MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    phase: schemas.PhaseName | None = None,
    customer_id: Annotated[
        str | None,
        Query(
            alias="customerId",
            min_length=1,
            max_length=model.MAX_CUSTOMER_ID,
            pattern=fields.NOT_BLANK,
        ),
    ] = None,
) -> schemas.OrderPage:
    page = await handlers.list_orders(
        uow=context.uow(),
        limit=limit,
        cursor=cursor,
        phase=model.Phase(phase) if phase else None,
        customer_id=customer_id,
    )
    return schemas.OrderPage(
        items=[schemas.order_out(order) for order in page.orders], next_cursor=page.next_cursor
    )


@internal.post(
    "/orders/{order_id}/verify",
    response_model=schemas.OrderOut,
    responses=_responses(404, 409, 422),
    summary="Confirm an Order's terms are the order's (saga operator; read-only)",
)
async def verify_order(
    order_id: uuid.UUID, body: schemas.VerifyOrder, context: ContextDep
) -> schemas.OrderOut:
    order = await handlers.verify_order(uow=context.uow(), order_id=order_id, terms=body.terms())
    return schemas.order_out(order)


@internal.post(
    "/orders/{order_id}/complete",
    response_model=schemas.OrderOut,
    responses=_responses(404, 409),
    summary="Finish an order (saga operator; idempotent)",
)
async def complete_order(order_id: uuid.UUID, context: ContextDep) -> schemas.OrderOut:
    outcome = await handlers.complete_order(uow=context.uow(), order_id=order_id)
    if outcome.changed:
        context.on_commit()
    return schemas.order_out(outcome.order)


@internal.post(
    "/orders/{order_id}/cancel",
    response_model=schemas.OrderOut,
    responses=_responses(404, 409),
    summary="Cancel an order (saga operator; idempotent, the first reason stays)",
)
async def cancel_order(
    order_id: uuid.UUID, body: schemas.CancelOrder, context: ContextDep
) -> schemas.OrderOut:
    outcome = await handlers.cancel_order(uow=context.uow(), order_id=order_id, reason=body.reason)
    if outcome.changed:
        context.on_commit()
    return schemas.order_out(outcome.order)


def render_error(error: Exception) -> Response | None:
    """The problem answer for an orders error; None for anything else (a bug: 500)."""
    if not isinstance(error, domain_errors.OrdersError):
        return None
    return errors.problem_response(errors.problem_for(error))


async def orders_error_handler(request: Request, error: Exception) -> Response:
    response = render_error(error)
    if response is None:
        raise error
    return response


def _json(body: schemas.Schema, status: int, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status, headers)


def require_idempotency_key(app: FastAPI) -> None:
    """Make the OpenAPI document say what ``POST /orders`` needs: an Idempotency-Key.

    The runtime's dependency declares the header optional, so that a missing key is its 400
    problem rather than FastAPI's validation 422; the document must still tell clients (and
    schemathesis) that the header is required and what it looks like.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for parameter in document["paths"]["/orders"]["post"]["parameters"]:
                if parameter["in"] == "header" and parameter["name"] == idempotency_http.HEADER:
                    parameter["required"] = True
                    parameter["schema"] = {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_KEY_LENGTH,
                        "pattern": "^[\\x20-\\x7e]+$",
                    }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
