"""The real inventory app served by uvicorn on a free port, in a thread with its own loop.

For HTTP tests and schemathesis (which must not share pytest's loop with the app's asyncpg
pool), and for other services' tests that want a real inventory to call:

    with serving(create_app(settings)) as base_url:
        httpx.get(f"{base_url}/products")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(app: FastAPI, *, startup_timeout: float = 30.0) -> Iterator[str]:
    """Run ``app`` (lifespan included) until the block ends; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="inventory-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the inventory app did not start (see its log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the inventory app did not start within {startup_timeout}s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
