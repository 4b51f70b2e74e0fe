"""`python -m infra.local`: bring the local platform up, report on it, take it down.

The Makefile's `up`, `down`, `status` and `test` targets call this. Start-up goes in waves
(storage and brokers, then kube-apiserver and containerd, then the controllers and kwok, then
the real node's kubelet, kube-proxy, CoreDNS and metrics-server), each waiting for its
readiness probes, printing how long every part took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from infra.local import monitoring
from infra.local.components import Component, components
from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from infra.local.node import cluster as node_cluster
from infra.local.node import images as node_images
from infra.local.node import layout as node_layout
from infra.local.node import teardown as node_teardown
from infra.local.node.components import NODE_WAVE, node_components
from infra.local.node.layout import NODE_NAME
from infra.local.prepare import prepare
from infra.local.probes import Probe, check, probes, wait_ready
from infra.local.settings import PlatformSettings, describe_versions
from infra.local.state import State
from infra.local.supervisor import Supervisor, leftover_processes
from infra.skaffold import session as skaffold_session


def up(state: State) -> None:
    started = time.monotonic()
    print(f"kubesaga local platform ({describe_versions()})", flush=True)
    prepare(state)
    parts = [*components(state), *node_components(state)]
    supervisor = Supervisor(state)
    changed = supervisor.write_config(parts)
    if supervisor.running() and changed:
        print("  the platform's configuration changed: restarting it", flush=True)
        down(state)
        prepare(state)  # `down` removed the node's namespace and cgroups
    if not supervisor.running():
        supervisor.start_daemon()
    checks = probes(state)
    for wave in sorted({c.wave for c in parts}):
        members = [c for c in parts if c.wave == wave]
        wave_started = time.monotonic()
        if wave == NODE_WAVE:
            _before_node_wave(state)
        supervisor.start([c.name for c in members])
        if wave == 2:
            _register_fake_nodes(state)
        asyncio.run(
            _wait_wave(
                members, checks, state.settings.ready_timeout_seconds, supervisor, wave_started
            )
        )
    endpoints = Endpoints.of(state)
    endpoints.write(state.settings.endpoints_file, path_prefix=_tool_path(state))
    print(f"ready in {time.monotonic() - started:.1f}s\n")
    print(usage(state))


async def _wait_wave(
    members: list[Component],
    checks: dict[str, Probe],
    timeout: float,
    supervisor: Supervisor,
    wave_started: float,
) -> None:
    """Wait for every member; each one's time is counted from when its wave was started."""

    async def one(component: Component) -> None:
        try:
            await wait_ready(component.name, checks[component.name], timeout)
        except TimeoutError as e:
            log = supervisor.state.logs / f"{component.name}.log"
            raise SystemExit(f"{e}\n  its log: {log}\n  last lines:\n{_tail(log)}") from e
        seconds = time.monotonic() - wave_started
        print(f"  {component.name:<24} ready in {seconds:5.1f}s", flush=True)

    await asyncio.gather(*(one(c) for c in members))


def _before_node_wave(state: State) -> None:
    """The sandbox image and the API objects the kubelet, CoreDNS and metrics-server need."""
    node_images.import_pause(state.root, state.settings)
    layout = node_layout.load(state.root)
    assert layout is not None, "prepare() plans the node's layout"
    node_cluster.apply(state.settings.kubeconfig, layout, state.pki.ca_cert)


def _register_fake_nodes(state: State) -> None:
    """kwok manages Nodes that carry its annotation; it makes them Ready and runs their pods.

    They are tainted, so only what tolerates the taint (scale tests) lands on them; real
    workloads go to the real node.
    """
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"kwok-node-{index}",
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": f"kwok-node-{index}",
                    "node-role.kubernetes.io/agent": "",
                },
            },
            "spec": {
                "taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
            },
            "status": {
                "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            },
        }
        for index in range(state.settings.fake_nodes)
    ]
    kubectl(
        state.settings.kubeconfig,
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}),
    )


def down(state: State) -> int:
    supervisor = Supervisor(state)
    was_running = supervisor.running()
    if was_running:
        drained = node_teardown.drain(state.root, lambda: _stop_if_known(supervisor, "kubelet"))
        if drained:
            print(f"  removed {drained} containers (pods and their sandboxes) from the node")
    supervisor.shutdown()
    leftovers = leftover_processes(state.root)
    for pid, command in leftovers:
        print(f"  stopping leftover process {pid}: {command}")
        _terminate(pid)
    still = leftover_processes(state.root)
    for _ in range(30):  # a killed process takes a moment to be reaped by its new parent
        if not still:
            break
        time.sleep(0.1)
        still = leftover_processes(state.root)
    left = node_teardown.remove(state.root)
    for thing in left:
        print(f"  could not remove the node's {thing}", file=sys.stderr)
    if still:
        for pid, command in still:
            print(f"  could not stop {pid}: {command}", file=sys.stderr)
    if still or left:
        return 1
    print("platform stopped" if was_running else "platform was not running")
    return 0


def _stop_if_known(supervisor: Supervisor, name: str) -> None:
    if any(p.name == name for p in supervisor.processes()):
        supervisor.stop(name)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            time.sleep(0.1)
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def status(state: State) -> int:
    supervisor = Supervisor(state)
    if not supervisor.running():
        print("platform is not running (start it with `make up`)")
        return 1
    checks = probes(state)
    reasons = asyncio.run(_check_all(checks))
    healthy = True
    print(f"{'COMPONENT':<26}{'PROCESS':<10}{'READY':<7}DETAIL")
    for process in supervisor.processes():
        reason = reasons.get(process.name)
        ready = process.state == "RUNNING" and reason is None
        healthy &= ready
        detail = process.description if ready else (reason or process.description)
        print(f"{process.name:<26}{process.state:<10}{'yes' if ready else 'no':<7}{detail}")
    print()
    healthy &= _node_status(state)
    print()
    print(usage(state))
    return 0 if healthy else 1


def _node_status(state: State) -> bool:
    """The real node's Ready condition and the pods on it, as kubectl shows them."""
    kubeconfig = state.settings.kubeconfig
    try:
        print(kubectl(kubeconfig, "get", "node", NODE_NAME, "-o", "wide"), end="")
        pods = kubectl(kubeconfig, "get", "pods", "--all-namespaces", "-o", "wide",
                       f"--field-selector=spec.nodeName={NODE_NAME}")  # fmt: skip
    except RuntimeError as e:
        print(f"node {NODE_NAME}: {e}")
        return False
    print(f"\nPods on {NODE_NAME}:\n{pods or '  none'}", end="" if pods else "\n")
    return True


async def _check_all(checks: dict[str, Probe]) -> dict[str, str | None]:
    names = list(checks)
    results = await asyncio.gather(*(check(n, checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def kill(state: State, name: str, *, timeout: float) -> int:
    """kill -9 one component (its whole process tree), then wait for supervisord to restart it
    and for its readiness probe: what a crash and a container restart look like."""
    supervisor = Supervisor(state)
    if not supervisor.running():
        print("platform is not running (start it with `make up`)", file=sys.stderr)
        return 1
    checks = probes(state)
    if name not in checks:
        print(f"unknown component {name!r}; one of: {', '.join(sorted(checks))}", file=sys.stderr)
        return 2
    started = time.monotonic()
    pid = supervisor.kill(name)
    print(f"  {name}: killed pid {pid} (SIGKILL, with its children)", flush=True)
    new_pid = supervisor.wait_restarted(name, pid, timeout)
    restarted = time.monotonic() - started
    print(f"  {name}: restarted as pid {new_pid} after {restarted:.1f}s", flush=True)
    asyncio.run(wait_ready(name, checks[name], timeout))
    print(f"  {name}: ready again {time.monotonic() - started:.1f}s after the kill")
    return 0


def run(state: State, command: Sequence[str]) -> int:
    """Run a command against the platform, starting it first and stopping it after if needed."""
    supervisor = Supervisor(state)
    started_here = not supervisor.running()
    try:
        up(state)  # inside the try: a platform that fails to come up is stopped too
        return subprocess.run(list(command), check=False).returncode
    finally:
        if started_here:
            print("stopping the platform this run started", flush=True)
            if down(state) != 0:
                print("`down` left processes behind", file=sys.stderr)


def _after_dashes(cmd: list[str]) -> list[str]:
    """A REMAINDER argument without the ``--`` that separates it from our own options."""
    return cmd[1:] if cmd[:1] == ["--"] else cmd


def _monitoring(settings: PlatformSettings, args: argparse.Namespace) -> int:
    if args.monitoring_command == "install":
        monitoring.install(settings, evaluation_interval=args.evaluation_interval)
    elif args.monitoring_command == "uninstall":
        monitoring.uninstall(settings)
    else:
        print(monitoring.status(settings), end="")
    return 0


def usage(state: State) -> str:
    env = state.settings.endpoints_file
    return "\n".join(
        [
            "Use it:",
            f"  source {env}      # KUBECONFIG, PATH (kubectl, helm) and the service endpoints",
            "  kubectl get nodes",
            f"  export KUBECONFIG={state.settings.kubeconfig}",
            f"Logs: {state.logs}/<component>.log   Stop: make down   Check: make status",
        ]
    )


def _tool_path(state: State) -> list[str]:
    settings = state.settings
    return [str(settings.k8s_bin), str(settings.tool_bin("helm", "HELM_VERSION"))]


def _tail(path: object, lines: int = 15) -> str:
    try:
        text = open(str(path)).read().splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description="The kubesaga local platform: a real kube-apiserver, etcd, controller-manager, "
        "scheduler and kwok nodes, Kafka, Postgres, Redis and stripe-mock, on loopback.",
        epilog="Settings come from KUBESAGA_* environment variables (see infra/local/settings.py); "
        "tools are built by infra/local/install.sh (make tools).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start every component and wait until each is ready")
    commands.add_parser("down", help="stop every component; fails if any process is left")
    commands.add_parser("status", help="show each component's process and readiness")
    commands.add_parser("env", help="print the shell exports for a running platform")
    commands.add_parser("clean", help="stop the platform and delete its state folder")
    kill_parser = commands.add_parser(
        "kill",
        help="kill -9 one component (with its children), wait until it is restarted and ready",
    )
    kill_parser.add_argument("name", help="a component, as `status` names it (e.g. postgres)")
    kill_parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each (default: 120)"
    )
    run_parser = commands.add_parser(
        "run", help="run a command with the platform up; stop it after if this run started it"
    )
    run_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    skaffold_parser = commands.add_parser(
        "skaffold",
        help="skaffold ARGS (after --) on the running platform: its kubeconfig and tools, "
        "buildah behind a Docker API socket, skaffold's config and caches in the state folder",
    )
    skaffold_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="e.g. -- dev -p local")
    node_parser = commands.add_parser("node", help="the real worker node")
    node_commands = node_parser.add_subparsers(dest="node_command", required=True)
    import_parser = node_commands.add_parser(
        "import-image",
        help="import an OCI (or Docker) image archive into the node's containerd (k8s.io)",
    )
    import_parser.add_argument("archive", help="e.g. from `buildah push IMAGE oci-archive:FILE`")
    import_parser.add_argument(
        "--base-name",
        help="the repository to name the archive's tags with (for OCI archives whose "
        "index names only a tag, e.g. localhost/orders)",
    )
    monitoring_parser = commands.add_parser(
        "monitoring",
        help="Prometheus Operator and a Prometheus on the real node, as kube-prometheus-stack "
        "installs them (needs `make images`)",
        description=monitoring.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    monitoring_commands = monitoring_parser.add_subparsers(dest="monitoring_command", required=True)
    install_parser = monitoring_commands.add_parser(
        "install",
        help=f"the CRDs, the operator, a Prometheus selecting release={monitoring.STACK_RELEASE}",
    )
    install_parser.add_argument(
        "--evaluation-interval",
        default="30s",
        help="how often the Prometheus evaluates rules (default: 30s, as kube-prometheus-stack)",
    )
    monitoring_commands.add_parser("uninstall", help="delete all of it, the CRDs included")
    monitoring_commands.add_parser("status", help="the Prometheus, its pods, how to reach it")
    args = parser.parse_args(argv)
    # Probes poll components that are still starting: their clients' connection errors are
    # expected there, and wait_ready reports the last one if a component never comes up.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    state = State(PlatformSettings())
    try:
        if args.command == "up":
            up(state)
            return 0
        if args.command == "down":
            return down(state)
        if args.command == "status":
            return status(state)
        if args.command == "kill":
            return kill(state, args.name, timeout=args.timeout)
        if args.command == "env":
            print(state.settings.endpoints_file.read_text(), end="")
            return 0
        if args.command == "clean":
            code = down(state)
            for folder in (state.postgres_root, state.root):
                shutil.rmtree(folder, ignore_errors=True)
                print(f"removed {folder}")
            return code
        if args.command == "monitoring":
            return _monitoring(state.settings, args)
        if args.command == "node":
            report = node_images.import_archive(
                state.root, Path(args.archive), base_name=args.base_name
            )
            print(report, end="")
            return 0
        if args.command == "skaffold":
            return skaffold_session.main(_after_dashes(args.cmd))
        command = _after_dashes(args.cmd)
        if not command:
            parser.error("run needs a command, e.g. `run -- pytest`")
        return run(state, command)
    except (
        RuntimeError,
        TimeoutError,
        FileNotFoundError,
        ValueError,
        subprocess.CalledProcessError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
