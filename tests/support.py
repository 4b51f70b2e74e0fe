"""Small helpers the tests share: polling for an eventual state, and running kubectl."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from infra.local.endpoints import Endpoints
from infra.local.settings import PlatformSettings

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll until `probe` returns something other than None; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(0.25)


def kubectl(platform: Endpoints, *args: str) -> str:
    """Run the platform's own kubectl, as a user would, and return its output."""
    binary = PlatformSettings().k8s_bin / "kubectl"
    result = subprocess.run(
        [str(binary), f"--kubeconfig={platform.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout
