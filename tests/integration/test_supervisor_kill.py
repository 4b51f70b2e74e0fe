"""``Supervisor.kill`` and ``wait_restarted`` on a private supervisord with a stand-in program.

The program forks a child, as Postgres does: a crash must take both, and supervisord must
start the program again by itself (``autorestart=unexpected``), as the chaos harness relies on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.components import Component
from infra.local.settings import PlatformSettings
from infra.local.state import State
from infra.local.supervisor import Supervisor, _alive, _parents, process_tree


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(State(PlatformSettings(state=tmp_path)))
    forking = Component(
        "forking", ["sh", "-c", "sleep 600 & exec sleep 601"], wave=0, stop_seconds=2
    )
    supervisor.write_config([forking])
    supervisor.start_daemon()
    try:
        yield supervisor
    finally:
        supervisor.shutdown(timeout=30)


def running_pid(supervisor: Supervisor) -> int:
    deadline = time.monotonic() + 30
    while (pid := supervisor.process_pid("forking")) is None:
        assert time.monotonic() < deadline, "the program did not start"
        time.sleep(0.1)
    return pid


def test_a_killed_program_and_its_child_die_and_it_is_restarted(supervisor: Supervisor) -> None:
    supervisor.start(["forking"])
    pid = running_pid(supervisor)
    deadline = time.monotonic() + 10
    while len(tree := process_tree(pid, _parents())) < 2:  # the shell's background sleep
        assert time.monotonic() < deadline, "the program's child did not appear"
        time.sleep(0.1)

    assert supervisor.kill("forking") == pid
    new_pid = supervisor.wait_restarted("forking", pid, timeout=30)

    assert new_pid != pid
    assert not any(_alive(member) for member in tree), "a process of the killed tree lives"
    assert _alive(new_pid)
    assert supervisor.process_pid("forking") == new_pid


def test_a_program_supervisord_gave_up_on_is_started_again(supervisor: Supervisor) -> None:
    supervisor.start(["forking"])
    pid = running_pid(supervisor)
    supervisor.stop("forking")  # STOPPED: supervisord will not restart it by itself
    assert not _alive(pid)
    new_pid = supervisor.wait_restarted("forking", pid, timeout=30)
    assert new_pid != pid and _alive(new_pid)


def test_killing_a_stopped_program_says_so(supervisor: Supervisor) -> None:
    with pytest.raises(RuntimeError, match="forking is not running"):
        supervisor.kill("forking")
