"""The kubesaga image run for real with runc: read-only root, non-root, prompt SIGTERM.

Each container has a private network namespace with loopback only; the served API is
probed from inside it with `runc exec`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.images.oci import Bundles

pytestmark = pytest.mark.timeout(900)

COMPILERS = ("gcc", "cc", "c++", "g++", "make", "clang", "as", "ld")
BIN_DIRS = ("usr/bin", "usr/local/bin", "usr/sbin", "bin", "sbin", "opt/venv/bin")


@pytest.fixture(scope="module")
def kubesaga(archives: dict[str, Path]) -> Path:
    return archives["kubesaga"]


def test_no_compilers_installers_or_package_caches(bundles: Bundles, kubesaga: Path) -> None:
    rootfs = bundles.rootfs(kubesaga)
    found = [
        f"/{folder}/{tool}"
        for folder in BIN_DIRS
        for tool in (*COMPILERS, "pip", "uv")
        if (rootfs / folder / tool).exists() or (rootfs / folder / tool).is_symlink()
    ]
    assert found == []
    lists = rootfs / "var/lib/apt/lists"
    assert [p for p in lists.rglob("*") if p.is_file() and p.name != "lock"] == []
    assert list((rootfs / "var/cache/apt").rglob("*.deb")) == []
    assert list((rootfs / "var/cache/apt").glob("*.bin")) == []
    assert not (rootfs / "root/.cache").exists()
    # Bytecode was compiled at build time, since nothing can write it at run time.
    assert list((rootfs / "app/services/orders").glob("__pycache__/*.pyc"))


def test_runs_as_non_root_on_a_read_only_root(bundles: Bundles, kubesaga: Path) -> None:
    script = "id -u; id -g; touch /probe 2>&1; touch /tmp/probe && echo tmp-writable"
    with bundles.container(kubesaga, ["sh", "-c", script]) as container:
        done = container.run()
    lines = done.stdout.splitlines()
    assert lines[:2] == ["10001", "10001"]
    assert "Read-only file system" in lines[2]
    assert lines[3] == "tmp-writable"


def test_orders_cli_answers_help(bundles: Bundles, kubesaga: Path) -> None:
    args = ["/usr/bin/tini", "--", "python", "-m", "services.orders", "--help"]
    with bundles.container(kubesaga, args) as container:
        done = container.run()
    assert done.returncode == 0, done.stdout
    assert "The kubesaga orders service." in done.stdout
    assert "serve" in done.stdout


def test_operator_cli_answers_help(bundles: Bundles, kubesaga: Path) -> None:
    args = ["/usr/bin/tini", "--", "python", "-m", "operators.saga", "run", "--help"]
    with bundles.container(kubesaga, args) as container:
        done = container.run()
    assert done.returncode == 0, done.stdout


def test_serves_then_stops_promptly_on_sigterm(bundles: Bundles, kubesaga: Path) -> None:
    """The image's own entrypoint and command: tini, then `python -m services.orders serve`."""
    env = {"ORDERS_WORKERS__RELAY": "false", "ORDERS_WORKERS__CONSUMER": "false"}
    with bundles.container(kubesaga, env=env) as container:
        container.start()
        container.wait_for_line("Application startup complete", timeout=60)
        probe = container.exec(
            "python", "-c",
            "import urllib.request as r; print(r.urlopen('http://127.0.0.1:8001/healthz').read().decode())",
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert "ok" in probe.stdout
        signalled = time.monotonic()
        container.signal("TERM")
        status, rest = container.wait(timeout=15)
        stopped_in = time.monotonic() - signalled
    # uvicorn shuts down gracefully, then re-raises SIGTERM: tini reports 128 + 15.
    assert "Application shutdown complete" in rest
    assert status in (0, 143)
    assert stopped_in < 5, f"took {stopped_in:.1f}s to stop on SIGTERM"
