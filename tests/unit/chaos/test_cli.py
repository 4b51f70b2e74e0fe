"""``python -m tests.bench.chaos``'s options and the scenario a seed makes."""

from __future__ import annotations

import pytest

from tests.bench.chaos.__main__ import options
from tests.bench.chaos.faults import FaultKind
from tests.bench.chaos.load import Kind
from tests.bench.chaos.run import PROFILES, scenario, stack_options, window


def test_the_defaults_are_the_short_profile_with_every_fault() -> None:
    args, kinds = options([])
    assert args.profile == "short" and args.seed is None
    assert kinds == list(FaultKind)


def test_faults_can_be_chosen_by_name() -> None:
    _, kinds = options(["--faults", "operator, gate-delay"])
    assert kinds == [FaultKind.OPERATOR, FaultKind.GATE_DELAY]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--faults", "operator,nope"], "--faults"),
        (["--orders", "0"], "--orders"),
        (["--rate", "-1"], "--rate"),
        (["--repeats", "-1"], "--repeats"),
        (["--rate", "2", "--burst"], "not allowed with argument"),
        (["--profile", "medium"], "--profile"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        options(argv)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_a_seed_makes_one_scenario() -> None:
    short = PROFILES["short"]
    first, again, other = scenario(short, 7), scenario(short, 7), scenario(short, 8)
    assert first == again and first != other
    assert len(first.kinds) == short.orders
    assert {f.kind for f in first.faults} == set(FaultKind)  # each kind once
    assert all(0 < f.at < window(short) for f in first.faults)
    assert first.catalog[-1].available == first.kinds.count(Kind.SCARCE) // 2


def test_the_long_profile_has_a_thousand_sagas_and_every_fault_several_times() -> None:
    long = scenario(PROFILES["long"], 1)
    assert len(long.kinds) >= 1000
    assert all(sum(f.kind is k for f in long.faults) >= 2 for k in FaultKind)


def test_the_stack_runs_as_a_user_would() -> None:
    options_ = stack_options(scenario(PROFILES["short"], 1))
    assert options_.peering_lifetime_seconds is None  # the operator's own default
