"""Idempotency keys without Redis: key validation and request fingerprints."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime import idempotency, idempotency_http

BODY = {"customerId": "c-1", "items": [{"sku": "SKU-1", "quantity": 2}], "note": "é"}


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("order-2024-01-01T00:00:00Z_7f3a", True),
        ("with space inside", True),
        ("~!@#$%^&*()_+{}|:<>?", True),
        ("x" * 255, True),
        ("", False),
        ("x" * 256, False),
        ("tab\there", False),
        ("new\nline", False),
        ("naïve", False),
        ("\x7f", False),
    ],
)
def test_key_validation(key: str, valid: bool) -> None:
    assert idempotency.valid_key(key) is valid


def test_the_dependency_answers_400_for_a_missing_or_bad_key() -> None:
    assert idempotency_http.idempotency_key("k-1") == "k-1"
    for bad in (None, "", "x" * 256, "é"):
        with pytest.raises(idempotency_http.InvalidIdempotencyKey) as raised:
            idempotency_http.idempotency_key(bad)
        assert raised.value.status == 400
        assert "Idempotency-Key" in raised.value.detail


def test_fingerprint_ignores_json_formatting_and_key_order() -> None:
    compact = json.dumps(BODY, separators=(",", ":")).encode()
    spaced = json.dumps(dict(reversed(BODY.items())), indent=4, ensure_ascii=True).encode()
    assert idempotency.fingerprint("POST", "/orders", compact) == idempotency.fingerprint(
        "post", "/orders", spaced
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/orders", BODY),
        ("POST", "/orders/1", BODY),
        ("POST", "/orders", {**BODY, "note": "e"}),
        ("POST", "/orders", {**BODY, "items": [{"sku": "SKU-1", "quantity": 3}]}),
        ("POST", "/orders", [BODY]),
    ],
)
def test_fingerprint_tells_requests_apart(method: str, path: str, body: object) -> None:
    original = idempotency.fingerprint("POST", "/orders", json.dumps(BODY).encode())
    assert idempotency.fingerprint(method, path, json.dumps(body).encode()) != original


def test_a_body_that_is_not_json_is_hashed_as_is() -> None:
    first = idempotency.fingerprint("POST", "/upload", b"\xff\x00 raw")
    assert first == idempotency.fingerprint("POST", "/upload", b"\xff\x00 raw")
    assert first != idempotency.fingerprint("POST", "/upload", b"\xff\x00  raw")


@given(st.text(max_size=20), st.text(max_size=20), st.binary(max_size=20))
def test_parts_cannot_bleed_into_each_other(path: str, tail: str, body: bytes) -> None:
    # Moving characters from the path into the body must change the fingerprint.
    if tail:
        assert idempotency.fingerprint("POST", path + tail, body) != idempotency.fingerprint(
            "POST", path, tail.encode() + body
        )
