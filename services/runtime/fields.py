"""Field types the services' request schemas share: strict, and never blank.

Pydantic's default (lax) mode coerces: JSON ``true`` is taken as the quantity 1, ``"2"`` as 2,
``2.0`` as 2; and a length bound alone lets ``"   "`` through as a customer id. A request that
says ``"quantity": true`` is a client bug to refuse (422 naming the field), not a guess to
make, so the numbers and identifiers of every request body use these types instead.

Blank means what ``str.strip()`` removes. The check is Python (so its message is a sentence,
not a regex); the OpenAPI document and the Order CRD carry the same rule as a pattern, which
lists those characters explicitly rather than as ``\\s``, because ``\\s`` means different sets
to Python's ``re`` (schemathesis), Rust's regex and Go's RE2 (the API server). Unit tests
check the patterns against the checks and the CRD against the patterns.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, Strict

# Every character str.isspace() (so str.strip()) treats as whitespace, as a regex class body.
WHITESPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# At least one visible character, no NUL (Postgres text cannot hold it): a name, an id.
NOT_BLANK = f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"
# One word: no whitespace and no NUL at all (a payment method such as pm_card_visa).
ONE_WORD = f"^[^\\x00{WHITESPACE}]+$"


def not_blank(value: str) -> str:
    if "\x00" in value or not value.strip():
        raise ValueError("must have a visible character, and no NUL")
    return value


def one_word(value: str) -> str:
    if not value or "\x00" in value or any(c.isspace() for c in value):
        raise ValueError("must be one word: no whitespace, no NUL")
    return value


Count = Annotated[int, Strict()]  # a JSON integer: not true, not "2", not 2.0
Text = Annotated[
    str,
    Strict(),
    Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK}),
    AfterValidator(not_blank),
]
Word = Annotated[
    str,
    Strict(),
    Field(min_length=1, json_schema_extra={"pattern": ONE_WORD}),
    AfterValidator(one_word),
]
