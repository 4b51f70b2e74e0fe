"""The Catalog port over HTTP: prices read from inventory's ``GET /products/{sku}`` at order time.

Why a synchronous lookup (the lead's decision, recorded here). Orders could instead keep a
local copy of the catalog fed by product events, and keep taking orders while inventory is
down. We chose to ask inventory, once per distinct SKU of the order and concurrently, because
it is simpler (no second copy of the catalog, no product events to version, no backfill for a
new orders replica) and always price-correct: an order is priced with the price inventory
holds at that moment, never a stale copy. The cost is availability: while inventory is down
orders refuses new orders with 503 and ``Retry-After`` (never 500), and reading or finishing
existing orders is unaffected. Inventory must be up for the saga to reserve stock anyway, so
little real availability is lost.

How a lookup behaves. Each attempt has a short timeout; timeouts, refused connections, 5xx
and 429 answers are retried with backoff (``services.runtime.resilience.RetryPolicy``), and
every attempt goes through a circuit breaker shared by all orders replicas in Redis
(``services.runtime.circuit_breaker``), so once inventory is known to be down every replica
answers 503 at once instead of waiting for its own timeouts. A 404 means the SKU is unknown
(that is an answer, not a failure). Anything else unexpected (a 401, a body that is not a
product) is a broken contract and is also reported as unavailable, with an error logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from urllib.parse import quote

import httpx

from services.orders.domain import errors
from services.orders.domain.catalog import ProductQuote
from services.runtime.circuit_breaker import CircuitBreaker, CircuitOpenError
from services.runtime.resilience import RetryPolicy, TransientError

logger = logging.getLogger(__name__)

OPERATION = "inventory.get_product"  # retries_total{operation}
DEFAULT_RETRY_AFTER = 5.0  # seconds, when inventory gave no hint


class _BrokenContract(Exception):
    """Inventory answered something the contract does not allow; retrying cannot help."""


class InventoryCatalog:
    """``Catalog`` for ``place_order``; bootstrap builds it on a shared ``httpx.AsyncClient``.

    ``client`` carries the base URL, timeout and connection limits (see ``catalog_client``).
    """

    def __init__(
        self, client: httpx.AsyncClient, *, retry: RetryPolicy, breaker: CircuitBreaker
    ) -> None:
        self._client = client
        self._retry = retry
        self._breaker = breaker

    async def quote(self, skus: Collection[str]) -> Mapping[str, ProductQuote]:
        lookups = [asyncio.create_task(self._product(sku)) for sku in set(skus)]
        try:
            quotes = await asyncio.gather(*lookups)
        except BaseException:
            for lookup in lookups:  # the first failure decides; the others are not awaited
                lookup.cancel()
            await asyncio.gather(*lookups, return_exceptions=True)
            raise
        return {quote.sku: quote for quote in quotes if quote is not None}

    async def _product(self, sku: str) -> ProductQuote | None:
        try:
            # Retry outside the breaker: every attempt counts in the shared failure window, and
            # an open circuit (not a TransientError) ends the retries at once.
            return await self._retry.call(
                OPERATION, lambda: self._breaker.call(lambda: self._get(sku))
            )
        except CircuitOpenError as e:
            raise errors.CatalogUnavailable(
                "inventory is unavailable (circuit open)", retry_after=e.retry_after
            ) from e
        except TransientError as e:
            raise errors.CatalogUnavailable(
                f"inventory did not answer: {e}", retry_after=e.retry_after or DEFAULT_RETRY_AFTER
            ) from e
        except _BrokenContract as e:
            logger.error("inventory broke the product contract for %r: %s", sku, e)
            raise errors.CatalogUnavailable(
                "inventory gave an unexpected answer", retry_after=DEFAULT_RETRY_AFTER
            ) from e

    async def _get(self, sku: str) -> ProductQuote | None:
        try:
            response = await self._client.get(f"/products/{quote(sku, safe='')}")
        except httpx.TimeoutException as e:
            raise TransientError(f"timed out: {e!r}") from e
        except httpx.TransportError as e:
            raise TransientError(f"unreachable: {e!r}") from e
        if response.status_code == 404:
            return None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"answered {response.status_code}", retry_after=_retry_after(response)
            )
        if response.status_code != 200:
            raise _BrokenContract(f"answered {response.status_code}: {response.text[:200]}")
        return _quote(sku, response)


def _quote(sku: str, response: httpx.Response) -> ProductQuote:
    try:
        body = response.json()
        price = body["price"]
        value, currency = price["value"], price["currency"]
    except (ValueError, KeyError, TypeError) as e:
        raise _BrokenContract(f"not a product: {response.text[:200]!r}") from e
    if (
        body.get("sku") != sku
        or type(value) is not int
        or value < 0  # a price too high to pay is a real price: the domain refuses the order
        or not isinstance(currency, str)
    ):
        raise _BrokenContract(f"not a price of {sku!r}: {response.text[:200]!r}")
    return ProductQuote(sku=sku, unit_price=value, currency=currency)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers["retry-after"]), 0.0)
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: the policy's own backoff applies
