"""The HTTP side of idempotency keys: one wrapper a FastAPI route calls, and its errors.

Orders' ``POST /orders`` takes the validated key through the ``IdempotencyKey`` dependency
and hands its work to ``run_idempotent``, which replays a stored answer (with
``Idempotent-Replayed: true``), refuses a reused key (422) or a request still in flight (409
with Retry-After), or runs the handler and stores its 2xx/4xx answer. A 5xx or an exception
releases the key so the client's retry runs afresh.

The errors carry ``status``, ``title``, ``detail``, ``type`` and ``headers``; register
``idempotency_error_handler`` for ``IdempotencyError`` (or map them in the app's problem
handler) to answer them as problem+json.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from services.runtime import idempotency

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Framing and per-connection headers are the server's to write again on replay.
_NOT_STORED = frozenset(
    {"content-length", "transfer-encoding", "connection", "date", "server", "set-cookie"}
)


class IdempotencyError(Exception):
    """An idempotency check refused the request; rendered as problem+json."""

    status = 400
    title = "Idempotency error"
    type = "about:blank"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class InvalidIdempotencyKey(IdempotencyError):
    status = 400
    title = "Invalid Idempotency-Key"
    type = "/problems/invalid-idempotency-key"


class IdempotencyKeyReused(IdempotencyError):
    status = 422
    title = "Idempotency-Key reused"
    type = "/problems/idempotency-key-reused"


class IdempotentRequestInFlight(IdempotencyError):
    status = 409
    title = "Request in progress"
    type = "/problems/idempotent-request-in-flight"


class IdempotencyUnavailable(IdempotencyError):
    status = 503
    title = "Idempotency store unavailable"
    type = "/problems/idempotency-unavailable"


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Required. 1-255 printable ASCII characters, unique per operation; "
            "a retry with the same key and body gets the first answer.",
        ),
    ] = None,
) -> str:
    """FastAPI dependency: the request's key, or 400 if it is missing or malformed.

    Declared optional so that a missing key is our 400, not the framework's 422.
    """
    if key is None:
        raise InvalidIdempotencyKey(f"the {HEADER} header is required")
    if not idempotency.valid_key(key):
        raise InvalidIdempotencyKey(
            f"the {HEADER} header must be 1 to {idempotency.MAX_KEY_LENGTH} "
            "printable ASCII characters"
        )
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]

_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing or malformed Idempotency-Key", "content": _PROBLEM},
    409: {"description": "A request with this key is still in progress", "content": _PROBLEM},
    422: {"description": "Idempotency-Key reused with a different request", "content": _PROBLEM},
}
"""For the route's ``responses=``, so the OpenAPI document lists these answers."""


async def run_idempotent(
    store: idempotency.IdempotencyStore,
    request: Request,
    key: str,
    handler: Callable[[], Awaitable[Response]],
    *,
    scope: str = "",
    render_error: Callable[[Exception], Response | None] | None = None,
) -> Response:
    """Answer ``request`` once per ``key``: replay, refuse, or run ``handler`` and store it.

    ``handler`` returns a complete (non-streaming) ``Response``. ``scope`` separates clients
    that might pick the same key (e.g. the JWT subject). ``render_error`` turns an exception
    the handler raises into its response (the app's problem renderer) so a 4xx raised as an
    exception is stored like a returned one; without it, any exception releases the key.
    """
    body = await request.body()
    request_print = idempotency.fingerprint(request.method, request.url.path, body)
    record_key = f"{len(scope)}:{scope}:{key}"
    try:
        outcome = await store.begin(record_key, request_print)
    except (RedisError, OSError) as e:
        raise IdempotencyUnavailable(
            "cannot check the Idempotency-Key now; retry later", headers={"Retry-After": "1"}
        ) from e
    if isinstance(outcome, idempotency.Replay):
        stored = outcome.response
        headers = {**stored.headers, REPLAYED_HEADER: "true"}
        return Response(content=stored.body, status_code=stored.status, headers=headers)
    if isinstance(outcome, idempotency.Mismatch):
        raise IdempotencyKeyReused(
            f"this {HEADER} was already used with a different request; "
            "use a new key for a new request"
        )
    if isinstance(outcome, idempotency.InFlight):
        raise IdempotentRequestInFlight(
            f"a request with this {HEADER} is still in progress; retry later",
            headers={"Retry-After": str(max(math.ceil(outcome.retry_after), 1))},
        )
    token = outcome.token
    try:
        response = await handler()
    except Exception as e:
        rendered = render_error(e) if render_error is not None else None
        if rendered is None or rendered.status_code >= 500:
            await _release(store, record_key, token)
            raise
        response = rendered
    except asyncio.CancelledError:
        await _release(store, record_key, token)
        raise
    if response.status_code >= 500:
        await _release(store, record_key, token)
        return response
    answer = idempotency.StoredResponse(
        status=response.status_code,
        body=bytes(response.body),
        headers={k: v for k, v in response.headers.items() if k not in _NOT_STORED},
    )
    try:
        await store.complete(record_key, request_print, answer)
    except (RedisError, OSError):
        # The effect happened; answering it is right. A retry after the lock expires would
        # run again, so say it loudly.
        logger.exception("could not store the answer for an idempotency key")
    return response


async def _release(store: idempotency.IdempotencyStore, key: str, token: str) -> None:
    try:
        await store.abandon(key, token=token)
    except (RedisError, OSError):
        logger.warning("could not release an idempotency key; it expires with its lock")


async def idempotency_error_handler(request: Request, error: Exception) -> Response:
    """Exception handler for ``IdempotencyError``: a problem+json answer."""
    if not isinstance(error, IdempotencyError):
        raise error
    problem = {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": request.url.path,
    }
    return JSONResponse(
        problem,
        status_code=error.status,
        headers=error.headers,
        media_type="application/problem+json",
    )
