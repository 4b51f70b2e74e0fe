"""`up`, `status` and `down` on a second, isolated platform instance.

It runs beside the session's platform on free ports and a state folder of its own, which also
proves that the KUBESAGA_* settings isolate two checkouts, real nodes included. `down` must
leave no process, and nothing of the node on the host: no netns, veth, mount, cgroup or
iptables rule; and `up` must not have changed the host's sysctls that the kubelet sets.
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

from infra.local.kubectl import kubectl
from infra.local.node import cgroups, images
from infra.local.node.layout import instance_id
from infra.local.node.teardown import mounts_under
from infra.local.settings import REPO_ROOT, PlatformSettings, Ports
from infra.local.supervisor import leftover_processes

# Host-wide knobs the kubelet sets at start; its mount namespace lays copies over them.
HOST_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")


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


def host_sysctls() -> dict[str, str]:
    return {name: (Path("/proc/sys") / name).read_text().strip() for name in HOST_SYSCTLS}


def host_traces(state: Path) -> list[str]:
    """Everything of the instance's node that the host can still see."""
    instance = instance_id(state)
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True)
    for what, listing in (("netns", netns), ("link", links), ("iptables", rules)):
        found += [f"{what}: {line}" for line in listing.stdout.splitlines() if instance in line]
    found += [f"mount: {m}" for m in mounts_under(state)]
    found += [
        f"cgroup: {h / ('kubesaga-' + instance)}"
        for h in cgroups.hierarchies()
        if (h / f"kubesaga-{instance}").exists()
    ]
    return found


@pytest.mark.timeout(300)
def test_up_then_down_leaves_no_process_behind(instance: tuple[Path, dict[str, str]]) -> None:
    state, env = instance
    sysctls_before = host_sysctls()

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
    components = ("etcd", "kube-apiserver", "kafka", "postgres", "redis", "kwok")
    node = ("containerd", "kubelet", "kube-proxy", "coredns", "metrics-server")
    for component in (*components, *node):
        assert any(
            line.startswith(component) and "RUNNING" in line and " yes " in line
            for line in status.stdout.splitlines()
        ), f"{component} not running and ready:\n{status.stdout}"

    assert "kubesaga-node" in status.stdout and " Ready " in status.stdout, status.stdout
    assert host_sysctls() == sysctls_before, "the kubelet changed the host's sysctls"

    # A running pod, imported through the CLI, that `down` must take with it.
    archive = state / "busybox.tar"
    images.pack(
        archive, files={"/bin/busybox": Path("/bin/busybox")}, entrypoint=["/bin/busybox"], tag="1"
    )
    imported = run("node", "import-image", str(archive), "--base-name", "localhost/busybox")
    assert imported.returncode == 0 and "localhost/busybox:1" in imported.stdout, imported.stderr
    kubeconfig = state / "kubeconfig"
    # A fresh namespace's `default` service account comes a moment after the controllers.
    kubectl(kubeconfig, "wait", "--for=create", "serviceaccount/default", "--timeout=30s")
    kubectl(
        kubeconfig,
        "run",
        "sleeper",
        "--image=localhost/busybox:1",
        "--image-pull-policy=Never",
        "--",
        "/bin/busybox",
        "sleep",
        "3600",
    )
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
    assert cgroups.processes(f"/kubesaga-{instance_id(state)}"), "the pod is not in our cgroups"

    stopped = run("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "removed" in stopped.stdout, stopped.stdout
    assert leftover_processes(state) == []
    assert host_traces(state) == []
    assert host_sysctls() == sysctls_before
    assert run("status").returncode == 1
