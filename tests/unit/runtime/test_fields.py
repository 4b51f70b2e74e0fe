"""The shared request field types: strict numbers, identifiers that are never blank.

The checks are Python; the patterns published in the OpenAPI documents and the Order CRD must
say the same thing to every regex engine that reads them, so each is compared with the checks
over generated text, with Python's ``re`` and with pydantic's own (Rust) engine. Go's RE2,
the API server's, is exercised by tests/integration/test_order_crd.py.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from services.runtime import fields

# Text drawn to hit the edges: whitespace of every kind, NUL, and ordinary characters (no lone
# surrogates: JSON bodies decode to UTF-8 text, and pydantic's engine cannot hold them).
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
texts = st.text(
    st.one_of(
        st.sampled_from([*SPACES, "\x00", "a", "-", "é", "\u200b"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=12,
)


def accepts(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


TEXT = TypeAdapter(fields.Text)
WORD = TypeAdapter(fields.Word)
RUST_NOT_BLANK = TypeAdapter(Annotated[str, Field(pattern=fields.NOT_BLANK)])
RUST_ONE_WORD = TypeAdapter(Annotated[str, Field(pattern=fields.ONE_WORD)])


def test_the_whitespace_class_is_exactly_what_strip_removes() -> None:
    whitespace = re.compile(f"[{fields.WHITESPACE}]")
    matched = [chr(c) for c in range(sys.maxunicode + 1) if whitespace.fullmatch(chr(c))]
    assert matched == SPACES
    assert len(SPACES) == 29  # the Unicode White_Space set plus Python's four ASCII separators


@given(texts)
@example("   ")
@example("\u3000")
@example(" c-1 ")
@example("c\x00")
@example("")
def test_text_is_anything_with_a_visible_character_and_no_nul(value: str) -> None:
    expected = bool(value.strip()) and "\x00" not in value
    assert accepts(TEXT, value) is expected
    assert (re.search(fields.NOT_BLANK, value) is not None) is expected
    assert accepts(RUST_NOT_BLANK, value) is expected


@given(texts)
@example("pm_card_visa")
@example("pm card")
@example("pm\n")
@example("pm\u00a0card")
@example(" ")
@example("")
def test_a_word_has_no_whitespace_and_no_nul(value: str) -> None:
    expected = bool(value) and value.split() == [value] and "\x00" not in value
    assert accepts(WORD, value) is expected
    assert accepts(RUST_ONE_WORD, value) is expected
    # Python's ``$`` also matches before a final newline (RE2's and Rust's do not), so there
    # the pattern admits "pm\n" too: schemathesis may send it as valid and see it refused.
    python = re.search(fields.ONE_WORD, value) is not None
    assert python is (expected or (value.endswith("\n") and accepts(WORD, value[:-1])))


@pytest.mark.parametrize("value", [True, False, "2", 2.0, "2.0", None, [2]])
def test_a_count_is_never_coerced(value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(fields.Count).validate_python(value)


def test_a_count_is_a_plain_integer() -> None:
    assert TypeAdapter(fields.Count).validate_python(2) == 2
    assert TypeAdapter(fields.Count).validate_json("2") == 2


@pytest.mark.parametrize("value", [1, b"c-1", ["c-1"]])
def test_text_and_words_are_strings_only(value: object) -> None:
    for adapter in (TEXT, WORD):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
