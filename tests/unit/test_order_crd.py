"""The Order CRD says what the services say: one money range, the same field rules.

The API server is the last gate for an Order (the bridge's, or one made by hand); if its
bounds drift from the services', an order can be placed that the bridge cannot admit, or an
Order admitted that payments will refuse. These read crds/order.yaml (the chart ships the
very same file: tests/unit/chart) and compare its numbers and patterns with the Python
constants they copy. The rules themselves run on the real API server in
tests/integration/test_order_crd.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from infra.local.settings import REPO_ROOT
from services.inventory.domain import rules
from services.orders.domain import model
from services.orders.domain import money as orders_money
from services.runtime import fields, money

CRDS = [
    REPO_ROOT / "crds" / "order.yaml",
    REPO_ROOT / "charts" / "kubesaga" / "crds" / "order.yaml",
]


def schema(path: Any = CRDS[0]) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    (version,) = crd["spec"]["versions"]
    root: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return root


def spec(path: Any = CRDS[0]) -> dict[str, Any]:
    properties: dict[str, Any] = schema(path)["properties"]["spec"]["properties"]
    return properties


@pytest.mark.parametrize("path", CRDS, ids=["crds", "chart"])
def test_the_amount_is_bounded_by_the_one_money_range(path: Any) -> None:
    value = spec(path)["amount"]["properties"]["value"]
    assert (value["minimum"], value["maximum"]) == (money.MIN_AMOUNT, money.MAX_AMOUNT)
    assert (orders_money.MIN_AMOUNT, orders_money.MAX_AMOUNT) == (1, 99_999_999)


def test_no_unit_price_is_above_what_an_order_may_total() -> None:
    price = spec()["items"]["items"]["properties"]["unitPrice"]
    assert (price["minimum"], price["maximum"]) == (0, money.MAX_AMOUNT)


def test_quantities_and_lines_are_the_orders_bounds() -> None:
    items = spec()["items"]
    quantity = items["items"]["properties"]["quantity"]
    assert (quantity["minimum"], quantity["maximum"]) == (1, orders_money.MAX_QUANTITY)
    assert (items["minItems"], items["maxItems"]) == (1, orders_money.MAX_LINES)


def test_identifiers_carry_the_services_patterns() -> None:
    properties = spec()
    assert properties["customerId"]["pattern"] == fields.NOT_BLANK
    assert properties["customerId"]["maxLength"] == model.MAX_CUSTOMER_ID
    assert properties["paymentMethod"]["pattern"] == fields.ONE_WORD
    assert properties["paymentMethod"]["maxLength"] == model.MAX_PAYMENT_METHOD
    assert properties["items"]["items"]["properties"]["sku"]["pattern"] == rules.SKU_PATTERN
