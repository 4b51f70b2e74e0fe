"""skaffold's `local` profile on the real node: `skaffold run` deploys the chart with the image
it built through infra/skaffold and a saga completes through the orders Service; then
`skaffold dev` on the same release syncs an edited .py file into the running orders pod, whose
answer shows the edit within a bounded time, and Ctrl-C (SIGINT) leaves nothing behind.

skaffold works on a copy of the tree (the files its artifact and config name), so the edit
never touches the checkout. This package sorts before tests/deployment's modules, so its stack
is gone before the package's shared release is installed: the node never runs two at once.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from infra.local.endpoints import Endpoints
from infra.local.portforward import port_forward
from infra.local.settings import REPO_ROOT, PlatformSettings
from infra.skaffold import session
from tests.deployment.conftest import Release, import_images, place, settled

pytestmark = [pytest.mark.platform, pytest.mark.timeout(900)]

# What skaffold.yaml, its artifact and its custom build read.
SOURCES = (
    ".dockerignore", "pyproject.toml", "uv.lock", "skaffold.yaml",
    "charts", "images", "infra", "operators", "services",
)  # fmt: skip
FORWARDED = re.compile(
    r"Port forwarding service/shop-kubesaga-orders in namespace \S+, "
    r"remote port 80 -> http://127\.0\.0\.1:(\d+)"
)
EDITED = "services/orders/bootstrap.py"
DESCRIPTION = 'description="Orders priced from the inventory catalog'
SYNC_WITHIN_SECONDS = 90.0
FINALIZERS_OFF = '{"metadata": {"finalizers": null}}'


@dataclass
class Skaffold:
    workspace: Path
    namespace: str
    env: dict[str, str]
    binary: Path = field(default_factory=lambda: PlatformSettings().skaffold)

    def run(self, *args: str, timeout: float = 600) -> str:
        """skaffold ARGS in the namespace; its output, or AssertionError naming it."""
        done = subprocess.run(
            [str(self.binary), *args, "-p", "local", "-n", self.namespace],
            cwd=self.workspace,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"skaffold {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr


def copy_tree(target: Path, namespace: str) -> Path:
    """The sources skaffold reads, with the port-forwards moved to ``namespace``."""
    target.mkdir()
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(REPO_ROOT / ".venv")  # the custom build's python
    config = target / "skaffold.yaml"
    moved = config.read_text().replace(
        "    namespace: shop\n    port:", f"    namespace: {namespace}\n    port:"
    )
    assert moved.count(f"namespace: {namespace}") == 2
    config.write_text(moved)
    return target


@pytest.fixture(scope="module")
def skaffold(platform: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Skaffold]:
    """skaffold's session for the module (the Docker API stand-in serving), on a fresh
    namespace; whatever is still deployed at the end is deleted with `skaffold delete`."""
    import_images()  # the dependencies' images (postgres, redis, kafka), from `make images`
    namespace = f"skaffold-{uuid.uuid4().hex[:8]}"
    workspace = copy_tree(tmp_path_factory.mktemp("skaffold") / "kubesaga", namespace)
    with session.session(PlatformSettings(), Path(platform.kubeconfig)) as env:
        runner = Skaffold(workspace, namespace, env)
        release = Release(platform.kubeconfig, namespace)
        try:
            yield runner
        finally:
            if release.helm("list", "-q").split():  # `skaffold dev` deletes it when it ends
                runner.run("delete", timeout=300)
            # A finished Order keeps its finalizer until the operator's TTL deletes it, and the
            # operator left with the release: let the namespace go.
            for order in release.json("get", "orders")["items"]:
                name = order["metadata"]["name"]
                release.kubectl("patch", "order", name, "--type=merge", "-p", FINALIZERS_OFF)
            release.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


@pytest.fixture(scope="module")
def deployed(skaffold: Skaffold, platform: Endpoints) -> Release:
    """`skaffold run -p local`: build (buildah, imported into the node), helm, status check."""
    started = time.monotonic()
    output = skaffold.run("run", "--status-check=true")
    print(f"skaffold run -p local: {time.monotonic() - started:.1f}s")
    assert "built and imported ghcr.io/kubesaga/kubesaga:" in output, output
    return Release(platform.kubeconfig, skaffold.namespace)


async def test_skaffold_run_deploys_the_image_it_built_and_a_saga_completes(
    deployed: Release,
) -> None:
    images = {
        container["image"]
        for pod in deployed.pods()
        for container in pod["spec"]["containers"]
        if container["image"].startswith("ghcr.io/kubesaga/")
    }
    # The reference skaffold made from the image ID the Docker API stand-in reported.
    assert len(images) == 1, images
    assert re.fullmatch(r"ghcr\.io/kubesaga/kubesaga:[0-9a-f]{64}", images.pop())
    service = f"svc/{deployed.component('orders')}"
    with port_forward(deployed.kubeconfig, deployed.namespace, service, 80) as port:
        order_id = await place(deployed, port)
    order = await settled(deployed, order_id)
    assert order["status"]["phase"] == "Completed", order["status"]


class Output:
    """skaffold dev's output, read as it comes (a full pipe would stall skaffold)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        assert process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in reversed(self.lines):
                    if found := pattern.search(line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"skaffold never said {pattern.pattern!r}:\n{self.text()}")
                self._changed.wait(left)

    def join(self) -> None:
        self._reader.join(timeout=30)


def description(port: int) -> str | None:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
    except httpx.HTTPError:
        return None  # the process restarting, or skaffold re-forwarding
    return str(answer.json()["info"]["description"]) if answer.status_code == 200 else None


def leftovers(namespace: str) -> list[str]:
    """Command lines of live processes that name the namespace (port-forwards, execs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            line = " ".join(part.decode(errors="replace") for part in argv)
            if namespace in line:
                found.append(f"{entry.name}: {line}")
    return found


def test_skaffold_dev_syncs_an_edit_into_the_running_pod_and_ctrl_c_cleans_up(
    skaffold: Skaffold, deployed: Release
) -> None:
    process = subprocess.Popen(
        [str(skaffold.binary), "dev", "-p", "local", "-n", skaffold.namespace],
        cwd=skaffold.workspace,
        env=skaffold.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        output.wait_for(re.compile(r"Watching for changes"), timeout=480)
        port = int(output.wait_for(FORWARDED, timeout=60).group(1))
        before = description(port)
        assert before is not None and before.startswith("Orders priced"), before
        marker = f"edited {uuid.uuid4().hex[:8]}"
        source = skaffold.workspace / EDITED
        text = source.read_text()
        assert text.count(DESCRIPTION) == 1
        built_before = output.text().count("Building [")
        source.write_text(text.replace(DESCRIPTION, f'description="{marker}. " "Orders priced'))
        edited = time.monotonic()
        while (now := description(port)) is None or marker not in now:
            assert time.monotonic() - edited < SYNC_WITHIN_SECONDS, (
                f"the edit did not show within {SYNC_WITHIN_SECONDS:.0f}s:\n{output.text()}"
            )
            time.sleep(0.5)
            port = int(output.wait_for(FORWARDED, timeout=30).group(1))
        print(f"skaffold dev -p local: edit to answer in {time.monotonic() - edited:.1f}s (sync)")
        assert "Syncing 1 files for ghcr.io/kubesaga/kubesaga" in output.text()
        assert output.text().count("Building [") == built_before, "synced, not rebuilt"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            output.join()
            if process.stdout is not None:
                process.stdout.close()
    assert code == 0, output.text()
    # skaffold dev deletes what it deployed when it ends: the release, and its port-forwards.
    releases = deployed.helm("list", "-q")
    assert releases.split() == [], releases
    assert leftovers(skaffold.namespace) == [], "processes left behind"
