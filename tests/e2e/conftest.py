"""One saga stack for the end-to-end tests' session (tests/e2e/stack.py builds it).

The operator runs with short deadlines (inventory 60 s; payment 30 s, which the 3-D Secure
deadline test waits out), with peering whose records expire 10 s after a replica dies (kopf's:
60 s); a restart keeps its priority and identity (see ``OperatorProcess``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from services.inventory.domain.stock import Price, Product
from tests.e2e.stack import Stack, StackOptions, saga_stack

PAYMENT_DEADLINE_SECONDS = 30
INVENTORY_DEADLINE_SECONDS = 60
RUSH_STOCK = 60  # the 100-order test's scarce product

CATALOG = [
    Product("E2E-BEANS", "Beans", Price(1999, "EUR"), 100_000),
    Product("E2E-MUG", "Mug", Price(899, "EUR"), 100_000),
    Product("E2E-GONE", "Sold out", Price(4999, "EUR"), 0),
    Product("E2E-RUSH", "Limited drop", Price(2500, "EUR"), RUSH_STOCK),
]


@pytest_asyncio.fixture(scope="session")
async def stack(platform: Endpoints, kube: client.ApiClient) -> AsyncIterator[Stack]:
    options = StackOptions(
        name="e2e",
        catalog=CATALOG,
        payment_deadline_seconds=PAYMENT_DEADLINE_SECONDS,
        inventory_deadline_seconds=INVENTORY_DEADLINE_SECONDS,
        peering_lifetime_seconds=10,
    )
    async with saga_stack(platform, kube, options) as built:
        yield built


async def metric(stack: Stack, name: str) -> float:
    """The sum of a metric's samples on the operator's /metrics."""
    return await metric_at(stack.metrics_url, name)


async def metric_at(url: str, name: str) -> float:
    """The sum of a metric's samples on a /metrics endpoint."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def metric_settles_at(url: str, name: str, expected: float, *, timeout: float = 10) -> float:
    """The metric once it reaches `expected`, or its last value after `timeout`.

    The operator counts a settled saga after its status patch returns, so a test that has
    just seen the status can read the counter a moment before it moves.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await metric_at(url, name)
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)
