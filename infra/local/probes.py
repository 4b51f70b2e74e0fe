"""Readiness probes: each asks a component the question its clients depend on.

A probe returns None when ready and raises (with a reason) when not; `wait_ready` retries
until a deadline and reports the last reason, so a component that never comes up says why.
Called by the CLI after starting each wave, and by `status`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import redis.asyncio as redis
from aiokafka.admin import AIOKafkaAdminClient

from infra.local.endpoints import Endpoints
from infra.local.node.probes import node_probes
from infra.local.pki import ADMIN
from infra.local.state import State

Probe = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """The component answered, but not yet as a ready one would."""


def probes(state: State) -> dict[str, Probe]:
    ports, pki, settings = state.settings.ports, state.pki, state.settings
    endpoints = Endpoints.of(state)
    apiserver = f"https://127.0.0.1:{ports.apiserver}"

    def admin_tls() -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(pki.client_cert(ADMIN), pki.client_key(ADMIN))
        return context

    async def http_ok(url: str, *, verify: ssl.SSLContext | bool = True, **kw: str) -> None:
        async with httpx.AsyncClient(verify=verify, timeout=3.0) as client:
            response = await client.get(url, headers=kw or None)
        if response.status_code != 200:
            raise NotReady(f"GET {url} answered {response.status_code}: {response.text[:200]}")

    async def etcd() -> None:
        async with httpx.AsyncClient(timeout=3.0) as client:
            response = await client.get(f"http://127.0.0.1:{ports.etcd_client}/health")
        if response.json().get("health") != "true":
            raise NotReady(f"etcd health: {response.text}")

    async def postgres() -> None:
        connection = await asyncpg.connect(endpoints.postgres_dsn, timeout=3.0)
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()

    async def redis_ping() -> None:
        client = redis.Redis.from_url(endpoints.redis_url, socket_timeout=3.0)
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def kafka() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=endpoints.kafka_bootstrap, request_timeout_ms=5000
        )
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()

    async def nodes_ready() -> None:
        async with httpx.AsyncClient(verify=admin_tls(), timeout=3.0) as client:
            response = await client.get(f"{apiserver}/api/v1/nodes?labelSelector=type%3Dkwok")
        response.raise_for_status()
        ready = [
            node["metadata"]["name"]
            for node in response.json()["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) < settings.fake_nodes:
            raise NotReady(f"{len(ready)} of {settings.fake_nodes} kwok nodes Ready")

    return {
        "etcd": etcd,
        "postgres": postgres,
        "redis": redis_ping,
        "kafka": kafka,
        "stripe-mock": lambda: http_ok(
            f"{endpoints.stripe_api_base}/v1/customers",
            Authorization=f"Bearer {endpoints.stripe_api_key}",
        ),
        "kube-apiserver": lambda: http_ok(f"{apiserver}/readyz", verify=admin_tls()),
        # Their serving certs are self-signed at start; /healthz is open to anyone.
        "kube-controller-manager": lambda: http_ok(
            f"https://127.0.0.1:{ports.controller_manager}/healthz", verify=False
        ),
        "kube-scheduler": lambda: http_ok(
            f"https://127.0.0.1:{ports.scheduler}/healthz", verify=False
        ),
        "kwok": nodes_ready,
        **node_probes(state, admin_tls),
    }


async def wait_ready(name: str, probe: Probe, timeout: float) -> None:
    """Return once ready; raise TimeoutError naming the last reason otherwise."""
    started = time.monotonic()
    reason = "no answer yet"
    while time.monotonic() - started < timeout:
        try:
            await asyncio.wait_for(probe(), timeout=10.0)
            return
        except Exception as e:  # any failure is a reason to wait, reported at the deadline
            reason = _reason(e)
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{name} not ready after {timeout:.0f}s: {reason}")


async def check(name: str, probe: Probe) -> str | None:
    """One try: None when ready, else the reason."""
    try:
        await asyncio.wait_for(probe(), timeout=10.0)
    except Exception as e:
        return _reason(e)
    return None


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
