"""``python -m services.inventory`` as an operator runs it: migrate, seed, sweep, serve.

Real subprocesses on a fresh database: ``migrate`` on a migrated database is harmless,
``seed`` loads the demo catalog, ``sweep --once`` expires what is due, and ``serve`` answers,
runs its relay and sweeper, and stops its workers before it exits on SIGTERM. (Each process
pays ~3 s of imports, so the idempotent repeats are tested in-process elsewhere.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from services.inventory.migrations import SCRIPT_LOCATION
from services.runtime.db import asyncpg_dsn, sqlalchemy_url
from services.runtime.migrations import upgrade


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.inventory",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_migrate_seed_and_sweep_once_from_the_command_line(pg: str, kafka: str) -> None:
    env = {
        **os.environ,
        "INVENTORY_DB__URL": sqlalchemy_url(pg),
        "INVENTORY_KAFKA__BOOTSTRAP_SERVERS": kafka,
    }
    await upgrade(SCRIPT_LOCATION, pg)  # an earlier release migrated it: migrate is a no-op
    assert (await run(env, "migrate"))[0] == 0
    code, output = await run(env, "seed")
    assert (code, "seeded 10 products" in output) == (0, True), output
    conn = await asyncpg.connect(asyncpg_dsn(pg))
    try:
        assert await conn.fetchval("SELECT count(*) FROM products") == 10
        order = uuid.uuid4()
        past = datetime.now(UTC) - timedelta(hours=1)
        await conn.execute(
            "UPDATE products SET available = available - 2, reserved = 2 WHERE sku = 'SKU-1'"
        )
        await conn.execute(
            "INSERT INTO reservations (order_id, reservation_id, status, expires_at,"
            " correlation_id, created_at, updated_at) VALUES ($1, $2, 'reserved', $3, 'c', $3, $3)",
            order,
            uuid.uuid4(),
            past,
        )
        await conn.execute(
            "INSERT INTO reservation_lines (order_id, sku, quantity) VALUES ($1, 'SKU-1', 2)", order
        )
        code, output = await run(env, "sweep", "--once")
        assert (code, "expired 1 reservations" in output) == (0, True), output
        assert await conn.fetchval("SELECT status FROM reservations") == "expired"
        assert await conn.fetchval("SELECT event_type FROM outbox") == "inventory.expired"
        assert await conn.fetchval("SELECT available FROM products WHERE sku = 'SKU-1'") == 500
    finally:
        await conn.close()


async def test_serve_answers_and_stops_gracefully_on_sigterm(pg: str, kafka: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "INVENTORY_DB__URL": sqlalchemy_url(pg),
        "INVENTORY_KAFKA__BOOTSTRAP_SERVERS": kafka,
        "INVENTORY_HTTP__PORT": str(port),
        "INVENTORY_TELEMETRY__LOG_JSON": "false",
    }
    await upgrade(SCRIPT_LOCATION, pg)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.inventory",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    ready = await client.get("/readyz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "serve did not start within 30s"
                    await asyncio.sleep(0.2)
            assert ready.status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode()
    # uvicorn re-raises the signal once it has shut down, so the exit says "terminated".
    assert process.returncode in (0, -signal.SIGTERM), log
    assert "started ExpirySweeper" in log
    assert "outbox relay for inventory stopped" in log
    assert log.index("outbox relay for inventory stopped") < log.index("shutdown complete")
