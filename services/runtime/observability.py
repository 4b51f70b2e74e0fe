"""JSON logs and OpenTelemetry traces for every service process, configured once at start-up.

Each service's command line calls ``configure_logging`` first, ``serve`` calls
``configure_tracing`` before the app starts, and each app factory calls ``instrument_app``.
Log records carry ``service``, ``traceId`` and ``spanId`` of the current span, and ``orderId``
/ ``correlationId`` bound with ``log_context``. Spans go to OTLP over HTTP when
``otlp_endpoint`` is set; FastAPI, httpx and asyncpg are instrumented, and the relay and
consumers continue traces through Kafka headers, so one order is one trace across services.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from services.runtime.settings import TelemetrySettings

_order_id: ContextVar[str | None] = ContextVar("order_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Probes and scrapes would drown the traces that matter.
UNTRACED_URLS = "healthz,readyz,metrics"

# kopf's object loggers attach these to each record for its Event poster: ``settings`` is the
# whole operator configuration (queues included, which cannot be serialised), ``k8s_skip`` a
# flag. ``k8s_ref`` (kind, name, namespace, uid) is the one worth a field: ``object``.
_KOPF_RECORD_ATTRS = ("settings", "k8s_skip")


@contextmanager
def log_context(
    *, order_id: str | None = None, correlation_id: str | None = None
) -> Iterator[None]:
    """Every log line inside the block names this order and correlation id."""
    order_token = _order_id.set(order_id) if order_id else None
    correlation_token = _correlation_id.set(correlation_id) if correlation_id else None
    try:
        yield
    finally:
        if correlation_token is not None:
            _correlation_id.reset(correlation_token)
        if order_token is not None:
            _order_id.reset(order_token)


class ContextFields(logging.Filter):
    """Adds the service, the current trace and the bound order to each record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.traceId = format(span.trace_id, "032x")
            record.spanId = format(span.span_id, "016x")
        if (order_id := _order_id.get()) is not None:
            record.orderId = order_id
        if (correlation_id := _correlation_id.get()) is not None:
            record.correlationId = correlation_id
        return True


def json_handler(service: str, settings: TelemetrySettings, stream: TextIO) -> logging.Handler:
    """A handler writing one JSON object per record, with the context fields above."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFields(service))
    if settings.log_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger", "k8s_ref": "object"},
                reserved_attrs=[*RESERVED_ATTRS, *_KOPF_RECORD_ATTRS],
            )
        )
    return handler


def configure_logging(service: str, settings: TelemetrySettings) -> None:
    handler = json_handler(service, settings, sys.stdout)
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    # aiokafka logs every reconnect attempt at WARNING; one line per outage is ours to write.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


def configure_tracing(
    service: str, settings: TelemetrySettings, *, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install the process's tracer provider (once; OTel refuses a second) and instrumentors."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
    )
    if exporter is None and settings.otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    return provider


def instrument_app(app: FastAPI) -> None:
    """A server span per request, parented on the caller's traceparent header."""
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS)
