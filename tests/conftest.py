"""Fixtures on the real local platform (`make up`): no component is ever mocked.

`kube` is a Kubernetes API client, `kafka` a bootstrap address, `pg` the DSN of a database
made fresh for each test module, `redis` a URL. Each reads the endpoints `make up` wrote, and
fails with a clear message when the platform is not running. `make test` starts it first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl


@pytest.fixture(scope="session")
def platform() -> Endpoints:
    try:
        return Endpoints.load()
    except LookupError as e:
        pytest.fail(f"the local platform is not up: {e}", pytrace=False)


@pytest_asyncio.fixture(scope="session")
async def kube(platform: Endpoints) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=platform.kubeconfig, client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def namespace(platform: Endpoints, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new Kubernetes namespace named after the test module, deleted afterwards."""
    module = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    name = f"{module.removeprefix('test-')[:40]}-{uuid.uuid4().hex[:8]}"
    kubectl(platform.kubeconfig, "create", "namespace", name)
    yield name
    kubectl(platform.kubeconfig, "delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def kafka(platform: Endpoints) -> str:
    return platform.kafka_bootstrap


@pytest.fixture(scope="session")
def redis(platform: Endpoints) -> str:
    return platform.redis_url


@pytest_asyncio.fixture(scope="module")
async def pg(platform: Endpoints, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A new, empty database for the test module, dropped afterwards."""
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    name = f"t_{module[:40]}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(platform.postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield platform.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
