"""The HTTP client the Stripe SDK sends its async requests through: httpx, our way.

The SDK's bundled ``HTTPXClient`` passes the form-encoded body as ``data=<str>``, which httpx
0.28 deprecates (a DeprecationWarning on every call; the test suite treats warnings as
errors). ``stripe.HTTPClient`` is the SDK's documented extension point, so this subclass
sends the body as ``content=`` and otherwise behaves like the SDK's: transport failures
become ``stripe.APIConnectionError``, which the provider maps to a transient error. Using
our own ``httpx.AsyncClient`` also puts Stripe calls under the httpx instrumentation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Mapping
from typing import Any

import httpx
import stripe


class AsyncHttpxClient(stripe.HTTPClient):
    name = "httpx"

    def __init__(self, *, timeout: float) -> None:
        super().__init__()
        self._client = httpx.AsyncClient(timeout=timeout)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=post_data or None
            )
        except httpx.HTTPError as e:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"could not reach Stripe: {type(e).__name__}: {e}", should_retry=True
            ) from e
        return response.content, response.status_code, response.headers

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterable[bytes], int, Mapping[str, str]]:
        raise NotImplementedError("streaming Stripe responses is not used by payments")

    async def close_async(self) -> None:
        await self._client.aclose()

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)
