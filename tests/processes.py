"""Start a service as its own process (``python -m services.<name> serve``) for a measurement.

The bench runs each service in a process of its own, as deployed: served in threads of the
load generator's process, three event loops would share one GIL and measure that instead.
The child's output goes to a temporary log, printed if it fails to come up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service_process(
    module: str,
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    ready_path: str = "/openapi.json",
    startup_timeout: float = 60.0,
) -> Iterator[str]:
    """Run ``python -m <module> serve --port N <args>``; yield its base URL; stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+b", prefix=f"{module}-", suffix=".log") as log:
        command = [sys.executable, "-m", module, "serve", "--host", "127.0.0.1"]
        child = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(child, url + ready_path, startup_timeout, log.name)
            yield url
        finally:
            child.terminate()  # SIGTERM: uvicorn drains and the lifespan stops the workers
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_ready(child: subprocess.Popen[bytes], url: str, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"{url} exited with {child.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become ready in {timeout:.0f}s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(path: str, lines: int = 40) -> str:
    with open(path, "rb") as f:
        return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
