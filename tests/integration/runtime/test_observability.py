"""Telemetry: a request continues the caller's trace, and log lines name the trace and order.

The tracer provider is process-global and OTel sets it once, so this module installs the one
the whole test session uses, with an in-memory exporter to read spans back.
"""

from __future__ import annotations

import io
import json
import logging

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime import observability
from services.runtime.settings import TelemetrySettings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


async def test_a_request_continues_the_callers_trace_and_logs_name_it() -> None:
    exporter = InMemorySpanExporter()
    provider = observability.configure_tracing("svc-test", TelemetrySettings(), exporter=exporter)
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability")
    logger.addHandler(observability.json_handler("svc-test", TelemetrySettings(), stream))
    logger.setLevel(logging.INFO)

    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        with observability.log_context(order_id=order_id, correlation_id="corr-7"):
            logger.info("looked up")
        return {"orderId": order_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    observability.instrument_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.get(
            "/orders/o-1", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"}
        )
        assert (await client.get("/healthz")).status_code == 200
    assert answer.status_code == 200
    provider.force_flush()

    servers = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /orders/{order_id}"]  # probes are not traced
    (server,) = servers
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_SPAN
    assert server.resource.attributes["service.name"] == "svc-test"

    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["message"] == "looked up"
    assert line["level"] == "INFO"
    assert (line["service"], line["orderId"], line["correlationId"]) == (
        "svc-test",
        "o-1",
        "corr-7",
    )
    assert line["traceId"] == TRACE_ID
