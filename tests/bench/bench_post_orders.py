"""Load measurement of ``POST /orders``: latency percentiles and throughput (``make bench``).

Usage::

    .venv/bin/python -m tests.bench.bench_post_orders [--requests 1000] [--concurrency 10]
    .venv/bin/python -m tests.bench.bench_post_orders --orders-url http://127.0.0.1:8001

Without ``--orders-url`` it starts inventory and orders itself, each as its own
``python -m services.<name> serve`` process (as deployed; see ``processes``), on fresh
databases of the local platform (``make up``): inventory migrated and seeded with its demo
catalog, orders migrated and pricing each order from that inventory over HTTP (with the Redis
idempotency keys and circuit breaker); the databases are dropped afterwards. Orders' outbox
relay is off unless ``--relay``: on a shared platform 1,000 ``order.created`` events would
land on ``kubesaga.orders`` for every consumer to read. With ``--orders-url`` it targets
running services (``--inventory-url`` lists the SKUs to order).

Each request has its own Idempotency-Key and 1 to 3 random catalog SKUs. The load is a
fixed number of requests from ``--concurrency`` workers sharing one httpx client (closed
loop). Why not a load-testing framework: locust is well kept but brings gevent, a web UI
and its own process model for what is 1,000 requests and three percentiles; molotov has not
been released since 2022. A closed loop of httpx calls measures what we want with what is
already installed, and ``statistics.quantiles`` over 1,000 exact samples needs no histogram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx

from infra.local.endpoints import Endpoints
from tests import processes
from tests.integration.orders import stack


@dataclass(frozen=True)
class Result:
    latencies: list[float]  # seconds, one per request
    statuses: Counter[int]
    elapsed: float


async def list_skus(inventory_url: str) -> list[str]:
    skus: list[str] = []
    async with httpx.AsyncClient(base_url=inventory_url, timeout=10) as client:
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/products", params=params)).raise_for_status().json()
            skus += [product["sku"] for product in page["items"] if product["available"] > 0]
            cursor = page.get("nextCursor")
            if not cursor:
                return skus


def order_body(skus: list[str], currency: str, rng: random.Random) -> dict[str, object]:
    lines = rng.sample(skus, k=min(len(skus), rng.randint(1, 3)))
    return {
        "customerId": f"bench-{rng.randint(1, 50)}",
        "items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines],
        "currency": currency,
        "paymentMethod": "pm_card_visa",
    }


async def fire(
    orders_url: str, skus: list[str], currency: str, *, requests: int, concurrency: int
) -> Result:
    rng = random.Random(42)
    bodies = [order_body(skus, currency, rng) for _ in range(requests)]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=orders_url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            for body in queue:  # the workers share one iterator: each body is sent once
                started = time.perf_counter()
                response = await client.post(
                    "/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                )
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(latencies, statuses, elapsed)


def report(result: Result, *, concurrency: int) -> str:
    ms = sorted(latency * 1000 for latency in result.latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    ok = result.statuses.get(201, 0)
    return "\n".join(
        [
            f"POST /orders: {len(ms)} requests, concurrency {concurrency}, {result.elapsed:.2f}s",
            f"  status    {dict(sorted(result.statuses.items()))}",
            f"  latency   p50 {cuts[49]:.1f} ms  p95 {cuts[94]:.1f} ms  p99 {cuts[98]:.1f} ms"
            f"  (min {ms[0]:.1f}, mean {statistics.fmean(ms):.1f}, max {ms[-1]:.1f})",
            f"  throughput {len(ms) / result.elapsed:.0f} req/s ({ok / result.elapsed:.0f} "
            "orders/s created)",
        ]
    )


async def run(args: argparse.Namespace) -> Result:
    if args.orders_url:
        return await measure(args.orders_url, args.inventory_url, args)
    platform = Endpoints.load()
    async with contextlib.AsyncExitStack() as resources:
        inventory_db = await resources.enter_async_context(
            stack.inventory_database(platform.postgres_dsn)
        )
        orders_db = await resources.enter_async_context(
            stack.fresh_database(platform.postgres_dsn, "bench_orders")
        )
        await stack.migrate_orders(orders_db)
        inventory_url = resources.enter_context(
            processes.service_process(
                "services.inventory",
                ["--no-relay", "--no-sweeper"],
                {
                    "INVENTORY_DB__URL": inventory_db,
                    "INVENTORY_KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
                },
            )
        )
        orders_url = resources.enter_context(
            processes.service_process(
                "services.orders",
                ["--no-consumer", *([] if args.relay else ["--no-relay"])],
                {
                    "ORDERS_SERVICE_NAME": f"orders-bench-{uuid.uuid4().hex[:8]}",
                    "ORDERS_DB__URL": orders_db,
                    "ORDERS_REDIS__URL": platform.redis_url,
                    "ORDERS_KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
                    "ORDERS_CATALOG__BASE_URL": inventory_url,
                },
            )
        )
        return await measure(orders_url, inventory_url, args)
    raise AssertionError("unreachable")


async def measure(orders_url: str, inventory_url: str, args: argparse.Namespace) -> Result:
    skus = await list_skus(inventory_url)
    if not skus:
        raise SystemExit("inventory has no products in stock to order")
    await fire(orders_url, skus, args.currency, requests=20, concurrency=2)  # warm-up
    return await fire(
        orders_url, skus, args.currency, requests=args.requests, concurrency=args.concurrency
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--orders-url", help="a running orders service (default: start one)")
    parser.add_argument("--inventory-url", default="http://127.0.0.1:8002")
    parser.add_argument(
        "--relay",
        action="store_true",
        help="run orders' outbox relay too (publishes every order.created to kubesaga.orders)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(report(result, concurrency=args.concurrency))


if __name__ == "__main__":
    main()
