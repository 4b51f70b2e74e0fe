"""Domain events become valid wire contracts; the seed catalog file is read and checked.

Every inventory domain event must map to its ``services.runtime.events`` payload and survive
an encode/decode round trip (what the relay sends, consumers parse). The shipped demo catalog
must load, and a broken catalog must be refused with its problem named.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.inventory.adapters import catalog_file
from services.inventory.domain import events
from services.inventory.domain.rules import Line, Shortage, ShortageReason
from services.inventory.service_layer import messages
from services.runtime import events as contracts

ORDER, RID = uuid.uuid4(), uuid.uuid4()
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)

CASES: list[tuple[events.InventoryEvent, contracts.EventPayload]] = [
    (
        events.Reserved(ORDER, RID, (Line("A", 2), Line("B", 1)), EXPIRES),
        contracts.InventoryReserved(
            order_id=ORDER,
            reservation_id=RID,
            items=[
                contracts.ReservedLine(sku="A", quantity=2),
                contracts.ReservedLine(sku="B", quantity=1),
            ],
            expires_at=EXPIRES,
        ),
    ),
    (
        events.Rejected(
            ORDER,
            (
                Shortage("A", 3, 1, ShortageReason.OUT_OF_STOCK),
                Shortage("Z", 1, 0, ShortageReason.UNKNOWN_SKU),
            ),
        ),
        contracts.InventoryRejected(
            order_id=ORDER,
            lines=[
                contracts.RejectedLine(sku="A", requested=3, available=1, reason="out_of_stock"),
                contracts.RejectedLine(sku="Z", requested=1, available=0, reason="unknown_sku"),
            ],
        ),
    ),
    (
        events.Committed(ORDER, RID),
        contracts.InventoryCommitted(order_id=ORDER, reservation_id=RID),
    ),
    (
        events.Released(ORDER, RID, "declined"),
        contracts.InventoryReleased(order_id=ORDER, reservation_id=RID, reason="declined"),
    ),
    (events.Expired(ORDER, RID), contracts.InventoryExpired(order_id=ORDER, reservation_id=RID)),
    (
        events.LowStock(ORDER, "A", 2, 5),
        contracts.InventoryLowStock(order_id=ORDER, sku="A", available=2, threshold=5),
    ),
]


@pytest.mark.parametrize(("event", "contract"), CASES, ids=lambda c: type(c).__name__)
def test_each_domain_event_becomes_its_contract_and_round_trips(
    event: events.InventoryEvent, contract: contracts.EventPayload
) -> None:
    envelope = messages.envelope(event, correlation_id="corr-1", causation_id="cause-1")
    assert envelope.payload == contract
    assert (envelope.topic, envelope.aggregate_id) == (contracts.INVENTORY_TOPIC, str(ORDER))
    decoded = contracts.decode(envelope.encode())
    assert (decoded.payload, decoded.correlation_id, decoded.causation_id) == (
        contract,
        "corr-1",
        "cause-1",
    )


def test_every_domain_event_class_has_a_case() -> None:
    covered = {type(event) for event, _ in CASES}
    assert covered == set(events.InventoryEvent.__subclasses__())


def test_the_shipped_demo_catalog_loads_with_easy_out_of_stock_products() -> None:
    catalog = catalog_file.load()
    assert len(catalog) == len({p.sku for p in catalog}) >= 10
    assert any(p.available <= 3 for p in catalog)
    assert all(p.price.currency == "EUR" and p.price.value > 0 for p in catalog)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "invalid catalog"),
        (b'{"products": [{"sku": "A"}]}', "name"),
        (
            b'{"products": [{"sku": "A B", "name": "x", "price": {"value": 1, "currency": "EUR"},'
            b' "stock": 1}]}',
            "sku",
        ),
        (
            b'{"products": [{"sku": "A", "name": "x", "price": {"value": -1, "currency": "EUR"},'
            b' "stock": 1}]}',
            "value",
        ),
        (
            b'{"products": [{"sku": "A", "name": "x", "price": {"value": 1, "currency": "eur"},'
            b' "stock": -1}]}',
            "stock",
        ),
        (
            b'{"products": ['
            b'{"sku": "A", "name": "x", "price": {"value": 1, "currency": "EUR"}, "stock": 1},'
            b'{"sku": "A", "name": "y", "price": {"value": 1, "currency": "EUR"}, "stock": 1}]}',
            "SKUs listed more than once: A",
        ),
    ],
)
def test_a_broken_catalog_is_refused_naming_the_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(catalog_file.CatalogError, match=problem):
        catalog_file.parse(raw)
