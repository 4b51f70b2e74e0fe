"""The whole saga on the real platform: three services and the operator, each its own process.

``Stack`` owns what the end-to-end tests share: fresh databases, a namespace, the services
(``python -m services.<name> serve``), the operator (``python -m operators.saga run``) and
two pieces of test equipment that are not mocks:

- ``Gate``: a TCP proxy between the operator and a service that can refuse, drop and delay
  connections, so a test takes inventory "down" for the saga while orders still prices from
  it directly, or the chaos harness breaks the network between the operator and a service;
- ``TraceCollector``: an OTLP/HTTP receiver every process exports its spans to, so a test can
  see one order's trace across all of them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[2]


class Gate:
    """A TCP proxy in front of a service, with the faults a network has.

    - ``close()``: connections refused, open ones cut (the service is "down"); ``open()``
      listens again, on the same port.
    - ``drop()``: connections are accepted and reset at once, open ones cut (a broken link or
      a crashing proxy: the client learns it only once it has sent its request).
    - ``delay(seconds)``: every chunk in either direction waits ``seconds`` (a slow link; a
      delay past the client's timeout makes the outcome of a request unknown to it).
    - ``heal()``: back to passing everything through at once.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._dropping = False
        self._delay = 0.0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(
            self._pipe, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._cut()

    def drop(self) -> None:
        self._dropping = True
        self._cut()

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def heal(self) -> None:
        self._dropping = False
        self._delay = 0.0

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._dropping:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if self._delay:
                        await asyncio.sleep(self._delay)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class TraceCollector:
    """Receives OTLP/HTTP protobuf exports (``POST /v1/traces``) and keeps every span."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector._add(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _add(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {
                        a.key: a.value.string_value or a.value.int_value for a in span.attributes
                    }
                    found.append(
                        Span(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes=attributes,
                        )
                    )
        with self._lock:
            self.spans.extend(found)

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class OperatorProcess:
    """``python -m operators.saga run`` as a child process that a test can kill -9.

    Every start has the same priority and peering identity, as a restarted container or a
    replacement pod of the chart's Deployment has: a restart must take over at once.
    """

    def __init__(self, env: Mapping[str, str], args: list[str], *, priority: int = 100) -> None:
        self._env = {**os.environ, **env}
        self._args = args
        self.priority = priority
        self._log = tempfile.NamedTemporaryFile("w+b", prefix="saga-operator-", suffix=".log")
        self._child: subprocess.Popen[bytes] | None = None
        self._start_offset = 0
        self.starts = 0

    def replica(self, *, priority: int, **env: str) -> OperatorProcess:
        """Another replica in the same peering and bridge group, at ``priority``."""
        return OperatorProcess({**self._env, **env}, self._args, priority=priority)

    @property
    def identity(self) -> str:
        """The replica's peering identity: the same for every start, as the chart's slot."""
        return f"e2e-operator-{self.priority}"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def logged(self, marker: str, *, since_start: bool = False) -> bool:
        """Whether the log holds ``marker``; with ``since_start``, since the latest start."""
        text = Path(self._log.name).read_bytes()
        return marker.encode() in (text[self._start_offset :] if since_start else text)

    @property
    def log_path(self) -> str:
        return self._log.name

    def start(self, *, bridge: bool = True, timeout: float = 90.0) -> None:
        """Start and wait until it serves; with ``bridge``, until the bridge reads Kafka too
        (a restart skips that: the group's rebalance after a kill -9 takes a session timeout,
        and the events wait in Kafka meanwhile)."""
        if self.running:
            raise RuntimeError("this replica is running; kill or stop it first")
        offset = self._start_offset = Path(self._log.name).stat().st_size
        # Every start is the same peer (priority and identity): a restart must take over from
        # its killed predecessor's record at once (see operators/saga/cli.py).
        self.starts += 1
        self._child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "operators.saga",
                "run",
                *self._args,
                "--priority",
                str(self.priority),
                "--identity",
                self.identity,
            ],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        marker = b"now reads" if bridge else b"register.<locals>.start' succeeded"
        deadline = time.monotonic() + timeout
        while marker not in Path(self._log.name).read_bytes()[offset:]:
            if self._child.poll() is not None:
                raise RuntimeError(f"the operator exited {self._child.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not get ready:\n{self.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write; what a node failure does."""
        assert self._child is not None
        self._child.send_signal(signal.SIGKILL)
        self._child.wait()

    def stop(self) -> None:
        if self._child is None or self._child.poll() is not None:
            return
        self._child.terminate()
        try:
            self._child.wait(30)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()

    def tail(self, lines: int = 60) -> str:
        text = Path(self._log.name).read_bytes().splitlines()[-lines:]
        return b"\n".join(text).decode(errors="replace")

    def close(self) -> None:
        self.stop()
        self._log.close()


async def place_order(
    orders_url: str,
    *,
    items: list[dict[str, Any]],
    payment_method: str = "pm_card_visa",
    customer_id: str = "c-e2e",
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST /orders; the new order's id."""
    async with httpx.AsyncClient(base_url=orders_url, timeout=30) as client:
        response = await client.post(
            "/orders",
            json={
                "customerId": customer_id,
                "items": items,
                "currency": "EUR",
                "paymentMethod": payment_method,
            },
            headers={"Idempotency-Key": os.urandom(16).hex(), **(headers or {})},
        )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["orderId"]
    return order_id
