"""The chaos load's pure parts: the mix, the catalog, the bodies, the pacing."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bench.chaos import load
from tests.bench.chaos.load import Kind

MIXES = st.dictionaries(st.sampled_from(list(Kind)), st.integers(0, 50), min_size=1).filter(
    lambda mix: sum(mix.values()) > 0
)


@given(count=st.integers(0, 2000), mix=MIXES, seed=st.integers(0, 2**32))
def test_a_plan_has_the_count_in_the_mixs_proportions(
    count: int, mix: dict[Kind, int], seed: int
) -> None:
    kinds = load.plan(count, mix, random.Random(seed))
    assert len(kinds) == count
    total = sum(mix.values())
    for kind, n in Counter(kinds).items():
        assert abs(n - count * mix[kind] / total) < 1  # largest remainder: off by less than one
    assert all(mix[kind] > 0 for kind in kinds)


def test_the_same_seed_makes_the_same_plan_and_another_seed_another() -> None:
    def make(seed: int) -> list[Kind]:
        return load.plan(150, load.DEFAULT_MIX, random.Random(seed))

    assert make(3) == make(3)
    assert make(3) != make(4)
    assert Counter(make(3)) == Counter(make(4))  # the same mix, in another order


@pytest.mark.parametrize("mix", [{}, {Kind.APPROVED: 0}, {Kind.APPROVED: -1, Kind.DECLINED: 2}])
def test_a_plan_refuses_a_mix_without_weight(mix: dict[Kind, int]) -> None:
    with pytest.raises(ValueError):
        load.plan(10, mix, random.Random(1))


def test_the_scarce_sku_is_stocked_for_half_of_its_orders() -> None:
    kinds = [Kind.SCARCE] * 7 + [Kind.APPROVED] * 3
    stock = {p.sku: p.available for p in load.catalog(kinds)}
    assert stock[load.SCARCE_SKU] == 3
    assert all(stock[sku] == load.PLENTIFUL_STOCK for sku in load.PLENTIFUL)


@given(seed=st.integers(0, 2**32), kind=st.sampled_from(list(Kind)))
def test_lines_name_known_skus_once_each(seed: int, kind: Kind) -> None:
    lines = load.lines(kind, random.Random(seed))
    skus = [sku for sku, _ in lines]
    assert len(set(skus)) == len(skus) >= 1
    assert all(1 <= quantity <= 3 for _, quantity in lines)
    if kind is Kind.SCARCE:
        assert lines == [(load.SCARCE_SKU, 1)]
    else:
        assert set(skus) <= set(load.PLENTIFUL)


def test_each_kind_pays_with_its_card() -> None:
    body = load.order_body(Kind.THREE_DS_TIMES_OUT, "c-1", [("CHAOS-MUG", 2)])
    assert body == {
        "customerId": "c-1",
        "items": [{"sku": "CHAOS-MUG", "quantity": 2}],
        "currency": "EUR",
        "paymentMethod": "pm_card_authenticationRequired",
    }
    assert load.order_body(Kind.DECLINED, "c", [])["paymentMethod"] == "pm_card_chargeDeclined"


def test_a_forged_order_is_a_valid_order_that_goes_when_it_ends() -> None:
    order = load.forged_order("0a0b", [("CHAOS-MUG", 2), (load.SCARCE_SKU, 1)])
    spec = order["spec"]
    assert order["metadata"]["name"] == spec["orderId"] == "0a0b"
    assert spec["items"] == [
        {"sku": "CHAOS-MUG", "quantity": 2, "unitPrice": 899},
        {"sku": load.SCARCE_SKU, "quantity": 1, "unitPrice": load.SCARCE_PRICE},
    ]
    assert spec["amount"] == {"value": 2 * 899 + load.SCARCE_PRICE, "currency": "EUR"}
    assert spec["ttlSecondsAfterFinished"] == 0


def test_orders_go_out_evenly_at_the_rate_or_all_at_once() -> None:
    assert load.launch_offsets(4, 2.0) == [0.0, 0.5, 1.0, 1.5]
    assert load.launch_offsets(3, None) == [0.0, 0.0, 0.0]
    assert load.launch_offsets(0, 5.0) == []
    with pytest.raises(ValueError):
        load.launch_offsets(3, 0.0)


def test_every_kind_but_forged_has_an_intended_end() -> None:
    assert set(load.INTENDED) == set(Kind) - {Kind.FORGED}
