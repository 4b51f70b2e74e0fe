"""The inventory HTTP routes: the public catalog and the saga operator's reservation commands.

Routes only translate: they validate with ``schemas``, call one ``service_layer.handlers``
function with the process's ``Context`` (attached by bootstrap's lifespan), and render the
result; every error is rendered by ``errors.problem_for``. ``POST /reservations`` answers 201
for a new reservation, 200 for a repeat, 409 ``/problems/out-of-stock`` (with ``lines``) when
refused, also on a repeat, and 409 ``/problems/reservation-closed`` after a release/expiry.
The reservation routes require the service token (``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain import errors as domain_errors
from services.inventory.domain import rules
from services.inventory.entrypoints import errors, schemas
from services.inventory.service_layer import handlers
from services.inventory.service_layer.clock import Clock

MAX_PAGE = 200
CORRELATION_HEADER = "X-Correlation-ID"


@dataclass(frozen=True)
class Context:
    """The process-wide collaborators the routes need; bootstrap builds and attaches it."""

    uow: Callable[[], InventoryUnitOfWork]
    clock: Clock
    reservation_ttl: timedelta
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the outbox relay


def attach(app: FastAPI, context: Context) -> None:
    app.state.inventory = context


def _context(request: Request) -> Context:
    context: Context | None = getattr(request.app.state, "inventory", None)
    if context is None:
        raise RuntimeError("the inventory API is used before its lifespan attached a Context")
    return context


ContextDep = Annotated[Context, Depends(_context)]
CorrelationId = Annotated[
    str | None,
    Header(
        alias=CORRELATION_HEADER,
        max_length=128,
        description="The saga's correlation id, carried into the events (default: the order id)",
    ),
]
OrderId = Annotated[uuid.UUID, Path(alias="orderId")]

_PROBLEM: dict[str, Any] = {"application/problem+json": {"schema": {"type": "object"}}}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The body cannot be read (not UTF-8 text)",
        401: "The service token is missing or wrong",
        404: "No such product or reservation",
        409: (
            "Refused: /problems/out-of-stock (with lines), /problems/reservation-closed, "
            "/problems/reservation-committed or /problems/reservation-mismatch"
        ),
        413: "The body is over the size limit",
        422: "The request is invalid",
    }
    return {status: {"description": described[status], "content": _PROBLEM} for status in statuses}


public = APIRouter(tags=["catalog"])
internal = APIRouter(tags=["internal"])


@public.get(
    "/products",
    response_model=schemas.ProductPage,
    responses=_responses(422),
    summary="The catalog, in SKU order, by pages",
)
async def list_products(
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> schemas.ProductPage:
    after = schemas.decode_cursor(cursor) if cursor is not None else None
    page, last = await handlers.products_page(context.uow(), after=after, limit=limit)
    return schemas.ProductPage(
        items=[schemas.ProductOut.of(p) for p in page],
        next_cursor=schemas.encode_cursor(last) if last is not None else None,
    )


@public.get(
    "/products/{sku}",
    response_model=schemas.ProductOut,
    responses=_responses(404, 422),
    summary="One product: its price and available stock",
)
async def get_product(
    sku: Annotated[str, Path(max_length=rules.MAX_SKU_LENGTH)], context: ContextDep
) -> schemas.ProductOut:
    return schemas.ProductOut.of(await handlers.product(context.uow(), sku=sku))


@internal.post(
    "/reservations",
    status_code=201,
    response_model=schemas.ReservationOut,
    responses={
        200: {"description": "A repeat: the stored reservation", "model": schemas.ReservationOut},
        **_responses(400, 401, 409, 413, 422),
    },
    summary="Reserve every line of an order, or none (saga operator; idempotent per order)",
)
async def reserve(
    body: schemas.ReservationIn, context: ContextDep, correlation_id: CorrelationId = None
) -> Response:
    try:
        result = await handlers.reserve(
            context.uow(),
            order_id=body.order_id,
            lines=[rules.Line(item.sku, item.quantity) for item in body.items],
            now=context.clock(),
            ttl=context.reservation_ttl,
            correlation_id=correlation_id,
        )
    except domain_errors.OutOfStock:
        context.on_commit()  # a first rejection stored its event
        raise
    if result.created:
        context.on_commit()
    return _json(schemas.ReservationOut.of(result.reservation), 201 if result.created else 200)


@internal.post(
    "/reservations/{orderId}/commit",
    response_model=schemas.ReservationOut,
    responses=_responses(400, 401, 404, 409, 413, 422),
    summary="Sell the order's reserved stock (saga operator; idempotent)",
)
async def commit(
    order_id: OrderId, context: ContextDep, correlation_id: CorrelationId = None
) -> schemas.ReservationOut:
    try:
        reservation = await handlers.commit(
            context.uow(), order_id=order_id, now=context.clock(), correlation_id=correlation_id
        )
    finally:
        context.on_commit()  # also an expiry noticed on the way is an event
    return schemas.ReservationOut.of(reservation)


@internal.post(
    "/reservations/{orderId}/release",
    response_model=schemas.ReservationOut,
    responses=_responses(400, 401, 409, 413, 422),
    summary="Give the order's stock back; without a reservation, refuse a later one",
)
async def release(
    order_id: OrderId,
    context: ContextDep,
    body: Annotated[schemas.ReleaseIn | None, Body()] = None,
    correlation_id: CorrelationId = None,
) -> schemas.ReservationOut:
    try:
        reservation = await handlers.release(
            context.uow(),
            order_id=order_id,
            reason=body.reason if body is not None else "",
            now=context.clock(),
            correlation_id=correlation_id,
        )
    finally:
        context.on_commit()
    return schemas.ReservationOut.of(reservation)


async def inventory_error_handler(request: Request, error: Exception) -> Response:
    if not isinstance(error, domain_errors.InventoryError):
        raise error
    return errors.problem_response(errors.problem_for(error))


def _json(body: schemas.Body, status: int) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status)
