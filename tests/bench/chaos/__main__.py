"""``python -m tests.bench.chaos``: sagas under load while the platform is broken, then checks.

``make chaos`` runs the long profile inside ``python -m infra.local run --``. It builds a
fresh stack (tests/e2e/stack.py) on the running platform, runs one scenario (``run.chaos``),
prints the timeline as it goes and the report at the end, tears the stack down, and exits 1
if any invariant has a violation (2 for bad options).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import sys
import time
from collections.abc import Sequence

from kubernetes_asyncio import client, config

from infra.local.endpoints import Endpoints
from infra.local.settings import PlatformSettings
from infra.local.state import State
from tests.bench.chaos.faults import FaultKind
from tests.bench.chaos.run import PROFILES, Report, chaos, scenario, stack_options
from tests.e2e.stack import saga_stack


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tests.bench.chaos",
        description="Place orders (approved, declined, out of stock, 3-D Secure that completes "
        "or times out, hand-made Orders) while kill -9 hits the operator, the services, "
        "Kafka, Postgres, Redis, etcd and kube-apiserver and gates drop or delay the "
        "operator's connections; then check the invariants (docs/reliability.md).",
        epilog="Needs the platform up (make up); make chaos runs --profile long. "
        "Exit status: 0 every invariant held, 1 a violation, 2 bad options.",
    )
    root.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="short",
        help="short: 150 orders at 1.5/s, each fault once (what make test runs); "
        "long: 1,200 orders at 2/s, each fault three times (default: %(default)s)",
    )
    root.add_argument(
        "--seed",
        type=int,
        help="the scenario's seed: orders, their order and the fault schedule (default: random, "
        "printed)",
    )
    root.add_argument("--orders", type=int, help="how many orders (default: the profile's)")
    pace = root.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="orders per second (default: the profile's)")
    pace.add_argument("--burst", action="store_true", help="place every order at once")
    root.add_argument(
        "--repeats", type=int, help="how often each fault kind strikes (default: the profile's)"
    )
    root.add_argument(
        "--faults",
        help="comma-separated fault kinds, of: " + ", ".join(FaultKind) + " (default: all)",
    )
    root.add_argument(
        "--settle-timeout",
        type=float,
        help="seconds to wait for the sagas after the load (default: the profile's)",
    )
    return root


def options(argv: Sequence[str]) -> tuple[argparse.Namespace, list[FaultKind]]:
    args = parser().parse_args(argv)
    try:
        kinds = [FaultKind(k.strip()) for k in args.faults.split(",")] if args.faults else []
    except ValueError as e:
        parser().error(f"--faults: {e}")
    if args.orders is not None and args.orders < 1:
        parser().error("--orders must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser().error("--rate must be positive")
    if args.repeats is not None and args.repeats < 0:
        parser().error("--repeats must be 0 or more")
    return args, kinds or list(FaultKind)


async def main_async(argv: Sequence[str]) -> Report:
    args, kinds = options(argv)
    profile = PROFILES[args.profile]
    changes = {
        "orders": args.orders,
        "rate": None if args.burst else args.rate,
        "repeats": args.repeats,
        "settle_timeout": args.settle_timeout,
    }
    profile = dataclasses.replace(profile, **{k: v for k, v in changes.items() if v is not None})
    if args.burst:
        profile = dataclasses.replace(profile, rate=None)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    chosen = scenario(profile, seed, fault_kinds=kinds)
    state = State(PlatformSettings())
    platform = Endpoints.load()
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=platform.kubeconfig, client_configuration=configuration
    )
    started = time.monotonic()
    _say("building the stack: databases, services, operator ...")
    async with client.ApiClient(configuration) as kube:
        async with saga_stack(platform, kube, stack_options(chosen)) as stack:
            _say(f"stack ready in {time.monotonic() - started:.0f}s")
            try:
                report = await chaos(stack, kube, platform, state, chosen, say=_say)
            finally:
                kept = stack.save_logs(state.logs / stack.namespace)
                _say(f"the stack's logs: {kept}")
            _say(report.text)  # before the teardown, which a broken platform may fail
            started = time.monotonic()
        _say(f"stack torn down in {time.monotonic() - started:.0f}s")
    return report


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    report = asyncio.run(main_async(sys.argv[1:] if argv is None else argv))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
