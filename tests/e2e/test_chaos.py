"""The short chaos profile: 150 sagas while each kind of fault strikes once, then every
invariant (tests/bench/chaos/invariants.py) must hold. ``make chaos`` runs the long one.

It builds a stack of its own (fresh databases, so the invariants read only its orders) and
leaves the platform as it found it: every component's probe passes before it returns, so
the tests after it find a healthy platform. The scenario's seed is fixed, so a failure can be
replayed (``python -m tests.bench.chaos --profile short --seed N``); set
``KUBESAGA_CHAOS_SEED`` to try another.
"""

from __future__ import annotations

import logging
import os

import pytest
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from infra.local.settings import PlatformSettings
from infra.local.state import State
from tests.bench.chaos.run import PROFILES, chaos, scenario, stack_options
from tests.e2e.stack import saga_stack

SEED = int(os.environ.get("KUBESAGA_CHAOS_SEED", "20261202"))


@pytest.mark.timeout(900)
async def test_every_invariant_holds_under_the_short_chaos_profile(
    platform: Endpoints, kube: client.ApiClient
) -> None:
    chosen = scenario(PROFILES["short"], SEED)
    state = State(PlatformSettings())
    # The Kafka probe's client logs every refused connection while the broker restarts.
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        async with saga_stack(platform, kube, stack_options(chosen)) as stack:
            try:
                report = await chaos(stack, kube, platform, state, chosen)
            finally:
                print(f"the stack's logs: {stack.save_logs(state.logs / stack.namespace)}")
    finally:
        kafka_log.setLevel(level)
    print(report.text)
    assert report.ok, f"replay: python -m tests.bench.chaos --seed {SEED}\n{report.text}"
