"""The HTTP shell every service's app is wrapped in: problem+json errors, body limit, probes, auth.

Each service's bootstrap calls ``install`` once and guards its routers with ``service_token``
(internal routes, called by the saga operator) and ``bearer_subject`` (public routes, JWT when
``auth.jwt_enabled``). Framework errors answer like the services' own: 422 for a body or
parameter FastAPI refuses (malformed JSON included), 404/405 for unknown routes, 413 for a body
over ``max_body_bytes`` (checked on the declared length and on the bytes read), 401 with
``WWW-Authenticate`` for a missing or bad token, and a logged 500 problem, with no internals,
for a bug. Probes: ``/healthz`` (the process answers), ``/readyz`` (every check passes; the
body says what each reported) and ``/metrics`` (Prometheus text).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import FastAPI, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.settings import AuthSettings

logger = logging.getLogger(__name__)

PROBLEM_BASE = "/problems/"

HTTP_REQUESTS = Counter(
    "http_requests",
    "Requests answered, by route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNMATCHED_ROUTE = "<unmatched>"  # one label for every unknown path: bounded cardinality


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 answer; services map their own errors to one in their ``errors`` module."""

    status: int
    type: str
    title: str
    detail: str
    extensions: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def problem_response(problem: Problem) -> JSONResponse:
    body = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    return JSONResponse(
        jsonable_encoder(body),
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )


Check = Callable[[], Awaitable[object]]  # raises when the dependency is unusable; may report


class Unauthorized(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def problem(status: int, kind: str, title: str, detail: str, **extensions: Any) -> JSONResponse:
    return problem_response(Problem(status, PROBLEM_BASE + kind, title, detail, extensions))


def install(app: FastAPI, *, max_body_bytes: int, checks: Mapping[str, Check]) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestMetrics)  # outermost: 413s are counted too
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        reports: dict[str, str] = {}
        failed = False
        for name, check in checks.items():
            try:
                reports[name] = str(await check() or "ok")
            except Exception as e:
                failed = True
                reports[name] = f"{type(e).__name__}: {e}"[:300]
        if failed:
            return problem(503, "not-ready", "Not ready", "a dependency is unavailable", **reports)
        return JSONResponse({"status": "ready", "checks": reports})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def service_token(auth: AuthSettings) -> Callable[..., Awaitable[None]]:
    """The internal routes' guard: ``Authorization: Bearer <service token>``."""
    expected = auth.service_token.get_secret_value().encode()

    async def check(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
            raise Unauthorized("a valid service token is required")

    return check


def bearer_subject(auth: AuthSettings) -> Callable[..., Awaitable[None]]:
    """The public routes' guard when JWT auth is enabled: a valid token, its subject kept.

    The subject is left in ``request.state.subject`` (empty when auth is off), e.g. to scope
    idempotency keys per client.
    """

    async def check(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        request.state.subject = ""
        if not auth.jwt_enabled:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a bearer token is required")
        try:
            claims = jwt.decode(
                token,
                auth.jwt_secret.get_secret_value(),
                algorithms=auth.jwt_algorithms,
                audience=auth.jwt_audience,
                issuer=auth.jwt_issuer,
                options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"the bearer token is not valid: {e}") from e
        request.state.subject = str(claims["sub"])

    return check


async def _invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    found = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
        for e in error.errors()
    ]
    detail = "; ".join(f"{e['location']}: {e['message']}" for e in found)[:1000]
    return problem(422, "invalid-request", "The request is invalid", detail, errors=found)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    response = problem(
        error.status_code, f"http-{error.status_code}", str(error.detail), str(error.detail)
    )
    response.headers.update(error.headers or {})
    return response


async def _unauthorized(request: Request, error: Exception) -> Response:
    assert isinstance(error, Unauthorized)
    response = problem(401, "unauthorized", "Unauthorized", error.detail)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _unexpected(request: Request, error: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "internal", "Internal error", "the service could not answer")


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before a handler parses them.

    The body is read here first (it is small by definition) and replayed to the app, so the
    limit holds whether the client declared a length or streamed chunks.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self._app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413, "body-too-large", "Request body too large", f"the limit is {self._max} bytes"
        )
        await response(scope, receive, send)


class RequestMetrics:
    """Counts and times every request by its route template (``/orders/{order_id}``)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before answering
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
