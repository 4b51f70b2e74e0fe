"""The e2e ``Gate``: the TCP faults the chaos harness puts between the operator and a service.

In front of an echo server on loopback: it passes bytes both ways, refuses when closed,
resets when dropping, holds every chunk when delaying, and heals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.e2e.harness import Gate


@pytest_asyncio.fixture
async def gate() -> AsyncIterator[Gate]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    gate = Gate("127.0.0.1", upstream.sockets[0].getsockname()[1])
    await gate.open()
    try:
        yield gate
    finally:
        await gate.close()
        upstream.close()
        await upstream.wait_closed()


async def round_trip(gate: Gate, data: bytes = b"ping") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", gate.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(1024), timeout=10)
    finally:
        writer.close()


async def test_it_passes_bytes_both_ways(gate: Gate) -> None:
    assert await round_trip(gate, b"hello") == b"hello"


async def test_closed_it_refuses_and_opened_again_it_serves_on_its_port(gate: Gate) -> None:
    port = gate.port
    await gate.close()
    with pytest.raises(ConnectionRefusedError):
        await round_trip(gate)
    await gate.open()
    assert gate.port == port
    assert await round_trip(gate) == b"ping"


async def test_dropping_it_resets_new_connections_and_cuts_open_ones(gate: Gate) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gate.port)
    writer.write(b"before")
    assert await reader.read(1024) == b"before"
    gate.drop()
    assert await reader.read(1024) == b""  # the open connection was cut
    writer.close()
    try:
        answer = await round_trip(gate)
    except ConnectionError:
        answer = b""
    assert answer == b""  # accepted, then reset: nothing comes back
    gate.heal()
    assert await round_trip(gate) == b"ping"


async def test_delaying_it_holds_each_chunk_then_heals(gate: Gate) -> None:
    gate.delay(0.3)
    started = time.monotonic()
    assert await round_trip(gate) == b"ping"
    assert time.monotonic() - started >= 0.6  # held once each way
    gate.heal()
    assert await round_trip(gate) == b"ping"
