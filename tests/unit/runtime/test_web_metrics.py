"""Request metrics: counted by route template, not raw path, so cardinality stays bounded."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.runtime import web


def _count(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_requests_are_counted_and_timed_by_route_template() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    web.install(app, max_body_bytes=1024, checks={})
    before_ok, before_missing = _count("/things/{thing_id}", "200"), _count("<unmatched>", "404")
    timed = {"method": "GET", "route": "/things/{thing_id}"}
    before_timed = REGISTRY.get_sample_value("http_request_duration_seconds_count", timed) or 0

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for thing_id in ("a", "b", "c"):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404
        metrics = (await client.get("/metrics")).text

    assert _count("/things/{thing_id}", "200") == before_ok + 3
    assert _count("<unmatched>", "404") == before_missing + 1
    assert REGISTRY.get_sample_value("http_request_duration_seconds_count", timed) == (
        before_timed + 3
    )
    assert 'route="/things/a"' not in metrics
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="200"}' in metrics
