"""The Order CRD's rules on the real API server: each bad Order refused, naming its field.

Every create is a server-side dry run (``dryRun=All``): the API server runs the whole
validation, OpenAPI bounds, patterns (Go's RE2) and CEL rules, and stores nothing, so no
operator is needed and nothing is left behind. The numbers and patterns are the Python
constants the services enforce (tests/unit/test_order_crd.py checks the copy); here they
are shown to mean the same thing to the API server.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from infra.local.endpoints import Endpoints
from services.runtime import money
from tests.support import install_crds

GROUP, VERSION, PLURAL = "kubesaga.io", "v1alpha1", "orders"
NAMESPACE = "default"  # dry runs store nothing, so no namespace of our own is needed
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.fixture(scope="module")
def order_crd(platform: Endpoints) -> Iterator[None]:
    install_crds(platform.kubeconfig)
    yield  # left installed: the e2e and chart tests apply the very same files


def order(name: str | None = None, **spec_changes: Any) -> dict[str, Any]:
    order_id = str(uuid.uuid4())
    spec: dict[str, Any] = {
        "orderId": order_id,
        "customerId": "c-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": 1999}],
        "amount": {"value": 3998, "currency": "EUR"},
        "paymentMethod": "pm_card_visa",
    }
    spec.update(spec_changes)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Order",
        "metadata": {"name": name or order_id},
        "spec": spec,
    }


def priced(*lines: tuple[int, int]) -> dict[str, Any]:
    """Spec changes for lines of (quantity, unit price), with the amount their exact sum."""
    items = [
        {"sku": f"SKU-{n}", "quantity": quantity, "unitPrice": price}
        for n, (quantity, price) in enumerate(lines)
    ]
    amount = sum(quantity * price for quantity, price in lines)
    return {"items": items, "amount": {"value": amount, "currency": "EUR"}}


async def admit(kube: client.ApiClient, body: dict[str, Any]) -> str | None:
    """None if the API server would store ``body``; its 422 message otherwise."""
    try:
        await client.CustomObjectsApi(kube).create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, body, dry_run="All"
        )
    except ApiException as e:
        if e.status != 422:
            raise
        message = e.body.decode() if isinstance(e.body, bytes) else str(e.body)
        return message
    return None


pytestmark = pytest.mark.usefixtures("order_crd")


async def test_a_well_formed_order_is_admitted(kube: client.ApiClient) -> None:
    assert await admit(kube, order()) is None


async def test_an_order_named_other_than_its_order_id_is_refused_naming_both(
    kube: client.ApiClient,
) -> None:
    refused = await admit(kube, order(name=str(uuid.uuid4())))
    assert refused is not None
    assert "metadata.name must equal spec.orderId" in refused
    assert "spec.orderId" in refused.split("metadata.name must", 1)[0]  # the field, too


async def test_a_name_that_is_not_even_a_uuid_is_refused(kube: client.ApiClient) -> None:
    refused = await admit(kube, order(name="my-order"))
    assert refused is not None and "metadata.name must equal spec.orderId" in refused


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        pytest.param([(1, money.MAX_AMOUNT), (1, 1)], "spec.amount.value", id="one over the max"),
        pytest.param([(10_000, 10_000_000)], "spec.amount.value", id="far over the max"),
        pytest.param([(1, 0)], "spec.amount.value", id="zero"),
        pytest.param(
            [(1, money.MAX_AMOUNT + 1)], "spec.items[0].unitPrice", id="a unit price over the max"
        ),
    ],
)
async def test_an_amount_payments_cannot_take_is_refused(
    kube: client.ApiClient, lines: list[tuple[int, int]], field: str
) -> None:
    refused = await admit(kube, order(**priced(*lines)))
    assert refused is not None and field in refused, refused


@pytest.mark.parametrize(
    "lines",
    [[(1, money.MAX_AMOUNT)], [(3, 33_333_333)], [(1, money.MIN_AMOUNT)], [(1, 0), (2, 1)]],
    ids=["the max", "three lines to the max", "the min", "a free line in a paid order"],
)
async def test_the_ends_of_the_money_range_are_admitted(
    kube: client.ApiClient, lines: list[tuple[int, int]]
) -> None:
    assert await admit(kube, order(**priced(*lines))) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customerId": "   "}, "spec.customerId"),
        ({"customerId": "\t\n"}, "spec.customerId"),
        ({"customerId": "\u3000\u00a0"}, "spec.customerId"),
        ({"paymentMethod": " "}, "spec.paymentMethod"),
        ({"paymentMethod": "pm card visa"}, "spec.paymentMethod"),
        ({"items": [{"sku": " ", "quantity": 1, "unitPrice": 3998}]}, "spec.items[0].sku"),
        ({"items": [{"sku": "SKU-1", "quantity": True, "unitPrice": 3998}]}, "quantity"),
        ({"items": [{"sku": "SKU-1", "quantity": "1", "unitPrice": 3998}]}, "quantity"),
    ],
)
async def test_blank_identifiers_and_lax_types_are_refused(
    kube: client.ApiClient, changes: dict[str, Any], field: str
) -> None:
    refused = await admit(kube, order(**changes))
    assert refused is not None and field in refused, refused


@pytest.mark.parametrize(
    "value",
    [*SPACES, *(f"{space}c{space}" for space in SPACES), "c-1", "a b", "\u200b", "é"],
    ids=repr,
)
async def test_the_api_server_reads_blank_as_the_services_do(
    kube: client.ApiClient, value: str
) -> None:
    """Go's RE2 applies the CRD's patterns exactly as the services' checks read the text."""
    customer = await admit(kube, order(customerId=value))
    method = await admit(kube, order(paymentMethod=value))
    assert (customer is None) is (bool(value.strip()) and "\x00" not in value), customer
    assert (method is None) is (value.split() == [value]), method


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"items": []}, "spec.items"),
        ({"items": [{"sku": "SKU-1", "quantity": 0, "unitPrice": 1999}]}, "spec.items[0].quantity"),
        ({"items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": -1}]}, "spec.items[0].unitPrice"),
        ({"items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": 19.99}]}, "unitPrice"),
        ({"amount": {"value": 3998, "currency": "eur"}}, "spec.amount.currency"),
        ({"amount": {"value": -5, "currency": "EUR"}}, "spec.amount.value"),
        ({"amount": {"value": 1, "currency": "EUR"}}, "amount.value must equal the sum"),
        (
            {
                "items": [
                    {"sku": "SKU-1", "quantity": 1, "unitPrice": 1999},
                    {"sku": "SKU-1", "quantity": 1, "unitPrice": 1999},
                ]
            },
            "each sku appears once",
        ),
        ({"customerId": ""}, "spec.customerId"),
    ],
)
async def test_a_malformed_order_is_refused_naming_the_field(
    kube: client.ApiClient, changes: dict[str, Any], named: str
) -> None:
    refused = await admit(kube, order(**changes))
    assert refused is not None and named in refused


async def test_an_orders_spec_is_immutable(kube: client.ApiClient, namespace: str) -> None:
    """Stored for real (a change needs an old object): no operator runs in this namespace."""
    custom = client.CustomObjectsApi(kube)
    body = order()
    name = body["metadata"]["name"]
    await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    with pytest.raises(client.exceptions.ApiException) as refused:
        await custom.patch_namespaced_custom_object(  # type: ignore[call-arg]
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"spec": {"customerId": "someone-else"}},
            _content_type="application/merge-patch+json",
        )
    assert refused.value.status == 422
    assert "spec is immutable" in str(refused.value.body)
