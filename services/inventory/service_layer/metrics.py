"""Inventory's Prometheus metrics, set by the handlers once their transaction has committed.

``inventory_reservations_total{operation,outcome}`` counts what each request did (reserve:
reserved/rejected/repeated/refused; commit: committed/repeated/refused; release:
released/repeated/refused; expire: expired). ``inventory_stock_available{sku}`` is the last
available count this process saw per SKU (one series per catalog product). Served on
``/metrics`` with the runtime's metrics.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from services.inventory.domain.stock import Product

RESERVATIONS = Counter(
    "inventory_reservations",
    "Reservation requests and expiries, by operation and outcome.",
    ["operation", "outcome"],
)
STOCK_AVAILABLE = Gauge(
    "inventory_stock_available", "Available stock per SKU, as of the last change seen.", ["sku"]
)


def count(operation: str, outcome: str, amount: int = 1) -> None:
    RESERVATIONS.labels(operation, outcome).inc(amount)


def stock(products: Iterable[Product]) -> None:
    for product in products:
        STOCK_AVAILABLE.labels(product.sku).set(product.available)
