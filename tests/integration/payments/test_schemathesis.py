"""Property-based API testing with schemathesis: whatever it sends, payments never answers 5xx.

The real app (bootstrap.create_app) runs under uvicorn in a thread on its own loop; its
OpenAPI document drives the generation, with the service token for the internal endpoints.
The webhook gets no signature, so it must answer 400 (not 500) to whatever arrives. The
simulated provider approves by default, so generated payments reach the database. Besides
"no 5xx", answers must conform to the document (status codes, content types and bodies).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.payments import bootstrap
from services.payments.settings import PaymentsSettings
from tests.integration.orders.servers import serve_in_thread
from tests.integration.payments.api_support import AUTH, payments_settings

EXAMPLES = 25  # per operation and mode: the module stays well under 30 s

pytestmark = pytest.mark.platform


@pytest.fixture(scope="module")
def api_settings(payments_db: str, redis: str, kafka: str) -> PaymentsSettings:
    return payments_settings(payments_db, redis, kafka)


@pytest.fixture(scope="module")
def payments_url(api_settings: PaymentsSettings) -> Iterator[str]:
    with serve_in_thread(bootstrap.create_app(api_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(payments_url: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{payments_url}/openapi.json")


# schemathesis.pytest.from_fixture does not run under pytest 9, so each operation's strategy
# is driven by hypothesis directly: valid requests and, separately, forbidden ones.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_never_fails_and_keeps_its_contract(
    api_schema: BaseSchema, mode: GenerationMode
) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operations.append(result.ok())
    assert {op.label for op in operations} >= {
        "POST /payments",
        "POST /payments/{order_id}/refund",
        "POST /payments/webhook",
    }
    for operation in operations:
        internal = not operation.path.endswith("/webhook")
        check_operation(operation, mode, AUTH if internal else {})


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
        # Valid-looking requests are refused for business reasons, rightly: an unsigned
        # webhook (400), a declined test card (402), an order compensated before (409).
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()
