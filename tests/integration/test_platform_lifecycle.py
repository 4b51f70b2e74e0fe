"""`up`, `status` and `down` on a second, isolated platform instance.

It runs beside the session's platform on free ports and a state folder of its own, which also
proves that the KUBESAGA_* settings isolate two checkouts. `down` must leave no process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.settings import REPO_ROOT, PlatformSettings, Ports
from infra.local.supervisor import leftover_processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def instance() -> Iterator[tuple[Path, dict[str, str]]]:
    state = PlatformSettings().state / "test-instances" / uuid.uuid4().hex[:8]
    env = {**os.environ, "KUBESAGA_STATE": str(state), "KUBESAGA_FAKE_NODES": "1"}
    env.pop("KUBECONFIG", None)
    for name in Ports.model_fields:
        env[f"KUBESAGA_PORTS__{name.upper()}"] = str(free_port())
    yield state, env
    subprocess.run(platform_command("clean"), env=env, cwd=REPO_ROOT, check=False, timeout=120)


def platform_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "infra.local", *args]


@pytest.mark.timeout(300)
def test_up_then_down_leaves_no_process_behind(instance: tuple[Path, dict[str, str]]) -> None:
    state, env = instance

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            platform_command(*args),
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    started = run("up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "kwok" in started.stdout and "ready in" in started.stdout
    assert leftover_processes(state), "up started nothing under its state folder"

    status = run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("etcd", "kube-apiserver", "kafka", "postgres", "redis", "kwok"):
        assert any(
            line.startswith(component) and "RUNNING" in line and " yes " in line
            for line in status.stdout.splitlines()
        ), f"{component} not running and ready:\n{status.stdout}"

    stopped = run("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert leftover_processes(state) == []
    assert run("status").returncode == 1
