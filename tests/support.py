"""Helpers the tests share: polling until an eventual state holds, installing the CRDs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from infra.local.kubectl import kubectl
from infra.local.settings import REPO_ROOT

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


def install_crds(kubeconfig: Path | str) -> None:
    """Apply crds/ (the Order and kopf's peering CRDs) and wait until the API serves them."""
    kubectl(kubeconfig, "apply", "-f", str(REPO_ROOT / "crds"))
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/orders.kubesaga.io",
        "crd/kopfpeerings.kopf.dev",
    )
