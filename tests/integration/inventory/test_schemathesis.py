"""Property-based API testing with schemathesis: whatever it sends, inventory never answers 5xx.

The real app runs under uvicorn in a thread on its own loop (``server.serving``); its OpenAPI
document drives generation of valid requests and, separately, of requests the document
forbids, with the service token on the internal routes. Besides "no 5xx", answers must
conform to the document (status codes, content types, bodies).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.inventory.conftest import RunningApi

EXAMPLES = 30  # per operation and mode: the module stays well under 30 s


@pytest.fixture(scope="module")
def api_schema(inventory_api: RunningApi) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{inventory_api.base_url}/openapi.json")


# schemathesis.pytest.from_fixture does not run under pytest 9, so each operation's strategy is
# driven by hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_never_fails_and_keeps_its_contract(
    api_schema: BaseSchema, inventory_api: RunningApi, mode: GenerationMode
) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operations.append(result.ok())
    assert {op.label for op in operations} == {
        "GET /products",
        "GET /products/{sku}",
        "POST /reservations",
        "POST /reservations/{orderId}/commit",
        "POST /reservations/{orderId}/release",
    }
    for operation in operations:
        internal = operation.path.startswith("/reservations")
        check_operation(operation, mode, inventory_api.auth if internal else {})


def check_operation(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, headers: dict[str, str]
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Any]) -> None:
        # Valid-looking requests are rightly refused by rules the schema cannot say (an
        # unknown SKU or order, a repeated SKU, a cursor we did not issue): that 4xx is the
        # contract, so "valid data must be accepted" does not apply.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()
