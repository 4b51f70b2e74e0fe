"""Start a service as its own process (``python -m services.<name> serve``), as deployed.

The bench runs each service in a process of its own: served in threads of the load
generator's process, three event loops would share one GIL and measure that instead. The
end-to-end stack and the chaos harness do too, and the harness kills them with SIGKILL and
starts them again on the same port (``ServiceProcess``), as a crashed container comes back
behind its Service. The child's output goes to a temporary log, printed if it fails to come up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``python -m <module> serve --port N <args>`` on a port of its own, kept across restarts."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        ready_path: str = "/openapi.json",
    ) -> None:
        self.module = module
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [sys.executable, "-m", module, "serve", "--host", "127.0.0.1"]
        self._command += ["--port", str(self.port), *args]
        self._env = {**os.environ, **env}
        self._ready_url = self.url + ready_path
        self._log = tempfile.NamedTemporaryFile("w+b", prefix=f"{module}-", suffix=".log")
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    @property
    def log_path(self) -> str:
        return self._log.name

    def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until it serves ``ready_path``."""
        if self.running:
            raise RuntimeError(f"{self.module} is running; kill or stop it first")
        self._child = subprocess.Popen(
            self._command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        _wait_ready(self._child, self._ready_url, timeout, self._log.name)

    def kill(self) -> None:
        """SIGKILL: no drain, no shutdown hooks, open transactions and connections cut."""
        assert self._child is not None
        self._child.send_signal(signal.SIGKILL)
        self._child.wait()

    def stop(self) -> None:
        """SIGTERM: uvicorn drains and the lifespan stops the workers."""
        if self._child is None or self._child.poll() is not None:
            return
        self._child.terminate()
        try:
            self._child.wait(30)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()

    def tail(self, lines: int = 40) -> str:
        return _tail(self._log.name, lines)

    def close(self) -> None:
        self.stop()
        self._log.close()


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
    service = ServiceProcess(module, args, env, ready_path=ready_path)
    try:
        service.start(startup_timeout)
        yield service.url
    finally:
        service.close()


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
    return b"\n".join(Path(path).read_bytes().splitlines()[-lines:]).decode(errors="replace")
