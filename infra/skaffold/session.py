"""skaffold run for the local platform: its environment, its own config, the Docker API stand-in.

Everything skaffold writes stays in ``<state>/skaffold/``: ``HOME`` points at ``home/`` there,
so its global config (``~/.skaffold/config``, written here with metrics, the update check and
the survey prompt off, and the platform's kube context marked local so nothing is pushed), its
artifact cache, last.log and helm's and kubectl's caches all land in the state folder, never in
the user's home. ``SKAFFOLD_UPDATE_CHECK=false`` keeps it off the network at start. The
platform's kubeconfig and tools (kubectl, helm) come first on ``PATH``, and
``DOCKER_HOST`` is :mod:`infra.skaffold.docker_api`'s socket.

``python -m infra.local skaffold -- ARGS`` is :func:`main`: skaffold ARGS in that session,
SIGINT and SIGTERM passed on to it, so Ctrl-C ends `skaffold dev` the way skaffold means it
to (it deletes what it deployed and stops its port-forwards).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import yaml

from infra.images.cli import image_store
from infra.local.kubeconfig import CLUSTER
from infra.local.pki import ADMIN
from infra.local.settings import PlatformSettings
from infra.skaffold import docker_api

# The kube context of the platform's admin kubeconfig (infra/local/kubeconfig.py).
KUBE_CONTEXT = f"{ADMIN.file_stem}@{CLUSTER}"


def folder(settings: PlatformSettings) -> Path:
    return settings.state / "skaffold"


def global_config(settings: PlatformSettings) -> Path:
    """skaffold's global config, where skaffold looks for it with HOME set as here."""
    return folder(settings) / "home" / ".skaffold" / "config"


def write_global_config(settings: PlatformSettings) -> Path:
    config = {
        "global": {
            "collect-metrics": False,
            "update-check": False,
            "survey": {"disable-prompt": True},
        },
        # Local: skaffold neither pushes nor expects a registry (as for kind-* contexts).
        "kubeContexts": [{"kube-context": KUBE_CONTEXT, "local-cluster": True}],
    }
    path = global_config(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def environment(
    settings: PlatformSettings, *, kubeconfig: Path | None, docker_host: str | None
) -> dict[str, str]:
    """skaffold's environment: ``os.environ`` with the settings above on top."""
    tools = [str(settings.k8s_bin), str(settings.tool_bin("helm", "HELM_VERSION"))]
    env = {
        **os.environ,
        "HOME": str(global_config(settings).parents[1]),
        "SKAFFOLD_CONFIG": str(write_global_config(settings)),
        "SKAFFOLD_UPDATE_CHECK": "false",
        "SKAFFOLD_INTERACTIVE": "false",
        # Never remove images (the buildah store is shared with `make images`), and always
        # run the build: a cache hit would skip importing the image into a fresh node.
        "SKAFFOLD_NO_PRUNE": "true",
        "SKAFFOLD_CACHE_ARTIFACTS": "false",
        "PATH": os.pathsep.join([*tools, os.environ.get("PATH", "")]),
        # The custom build command runs under this HOME too: name the tool cache and the
        # state folder outright, so it builds into the same store and node as `make images`.
        "KUBESAGA_CACHE": str(settings.cache),
        "KUBESAGA_STATE": str(settings.state),
    }
    env.pop("DOCKER_HOST", None)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    if docker_host is not None:
        env["DOCKER_HOST"] = docker_host
    return env


@contextmanager
def session(settings: PlatformSettings, kubeconfig: Path | None) -> Iterator[dict[str, str]]:
    """The Docker API stand-in served for as long as the block runs; yields skaffold's env."""
    socket = folder(settings) / "docker.sock"
    store = image_store(settings)
    store.prepare()
    images = docker_api.ImageStore(store)
    with docker_api.serving(socket, images) as docker_host:
        yield environment(settings, kubeconfig=kubeconfig, docker_host=docker_host)


def main(args: Sequence[str], settings: PlatformSettings | None = None) -> int:
    """skaffold ARGS against the running platform; returns skaffold's exit code."""
    settings = settings or PlatformSettings()
    binary = settings.skaffold
    if not binary.exists():
        raise FileNotFoundError(f"no skaffold at {binary}: run `make tools`")
    if not settings.kubeconfig.exists():
        raise RuntimeError(f"no {settings.kubeconfig}: start the platform with `make up`")
    with session(settings, settings.kubeconfig) as env:
        process = subprocess.Popen([str(binary), *args], env=env)

        def forward(signum: int, frame: FrameType | None) -> None:
            process.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return process.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
