"""skaffold.yaml with the pinned skaffold, offline: `diagnose` accepts it for every profile
and shows what each profile builds and deploys, `render` gives the chart's objects with the
image skaffold would build; and the pieces of infra/skaffold that need no cluster: the Docker
API stand-in's answers (over its real socket), the reference skaffold deploys, the session's
environment (nothing written outside the state folder).

skaffold reads a Dockerfile's base images for ONBUILD triggers (the kind and minikube
profiles' docker artifact): from a Docker daemon, else from the registry. Here there is
neither, so these run in the wrapper's session, whose Docker API answers from the buildah
store `make images` filled (`make test` builds the images before pytest).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local.settings import REPO_ROOT, PlatformSettings
from infra.skaffold import docker_api, session
from infra.skaffold.build import unique_reference
from tests.chart import Manifest, of_kind, pod_spec, render

PROFILES = ("kind", "minikube", "local")
IMAGE = "ghcr.io/kubesaga/kubesaga"
LOCAL_VALUES = REPO_ROOT / "infra" / "local" / "values-local.yaml"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> PlatformSettings:
    return PlatformSettings(state=tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="module")
def env(settings: PlatformSettings) -> Iterator[dict[str, str]]:
    """Offline: a kubeconfig that names no cluster; the Docker API stand-in serving."""
    kubeconfig = settings.state / "kubeconfig"
    kubeconfig.write_text(json.dumps({"apiVersion": "v1", "kind": "Config"}))
    with session.session(settings, kubeconfig) as environment:
        yield environment


def skaffold(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(PlatformSettings().skaffold), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"skaffold {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def effective(env: dict[str, str], profile: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(skaffold(env, "diagnose", "-p", profile, "--yaml-only"))
    return config


@pytest.mark.parametrize("profile", PROFILES)
def test_diagnose_accepts_the_config_for_every_profile(env: dict[str, str], profile: str) -> None:
    report = skaffold(env, "diagnose", "-p", profile)
    kind = "Custom" if profile == "local" else "Docker"
    assert f"{kind} artifact: {IMAGE}\n" in report, report
    assert re.search(r"\n - Dependencies: [1-9][0-9]* files\n", report), report
    config = effective(env, profile)
    (artifact,) = config["build"]["artifacts"]
    assert artifact["image"] == IMAGE
    assert artifact["sync"]["manual"] == [
        {"src": "services/**/*.py", "dest": "/app"},
        {"src": "operators/**/*.py", "dest": "/app"},
    ]
    assert config["build"]["local"]["push"] is False
    (release,) = config["deploy"]["helm"]["releases"]
    assert (release["name"], release["namespace"], release["createNamespace"]) == (
        "shop",
        "shop",
        True,
    )
    assert release["chartPath"] == str(REPO_ROOT / "charts" / "kubesaga")
    assert set(release["setValueTemplates"]) == {"image.repository", "image.tag"}
    assert "setValues" not in release, "devMode is for `skaffold dev` only (the sync profile)"
    if profile == "local":
        assert artifact["custom"]["buildCommand"] == ".venv/bin/python -m infra.skaffold build"
        assert "docker" not in artifact
        assert release["valuesFiles"] == [str(LOCAL_VALUES)]
    else:
        assert artifact["docker"]["dockerfile"] == "images/kubesaga/Containerfile"
        assert "valuesFiles" not in release
    forwards = {(f["resourceType"], f["resourceName"], f["port"]) for f in config["portForward"]}
    assert forwards == {
        ("service", "shop-kubesaga-orders", 80),
        ("deployment", "shop-kubesaga-operator-shard-0", 9090),
    }


def rendered(env: dict[str, str], *profiles: str) -> list[Manifest]:
    # `tag`: the tags the build would give, without building or asking a registry.
    text = skaffold(
        env, "render", "--offline=true", "--digest-source=tag", "-p", ",".join(profiles)
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kubesaga_images(manifests: list[Manifest]) -> set[str]:
    return {
        container["image"]
        for workload in manifests
        if workload["kind"] in ("Deployment", "StatefulSet")
        for container in [
            *pod_spec(workload).get("initContainers", []),
            *pod_spec(workload)["containers"],
        ]
        if container["image"].startswith(IMAGE)
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_render_gives_the_charts_objects_with_the_image_skaffold_would_build(
    env: dict[str, str], profile: str
) -> None:
    manifests = rendered(env, profile)
    dry_run = json.loads(skaffold(env, "build", "--dry-run", "-q", "-p", profile))
    (build,) = dry_run["builds"]
    assert kubesaga_images(manifests) == {build["tag"]}
    assert build["tag"].startswith(f"{IMAGE}:")
    chart = render(values_files=[LOCAL_VALUES] if profile == "local" else [])
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    # helm template's set, less the CRDs (skaffold renders templates/ only).
    assert names == {
        (m["kind"], m["metadata"]["name"]) for m in chart if m["kind"] != "CustomResourceDefinition"
    }
    claims = [
        c
        for s in of_kind(manifests, "StatefulSet")
        for c in s["spec"].get("volumeClaimTemplates", [])
    ]
    assert (claims == []) == (profile == "local"), "the node has no storage provisioner"


def test_the_sync_profile_turns_on_the_charts_dev_mode(env: dict[str, str]) -> None:
    for workload in of_kind(rendered(env, "local", "sync"), "Deployment"):
        serving = pod_spec(workload)["containers"][0]
        assert serving["args"][:3] == ["python", "-m", "watchfiles"], workload["metadata"]["name"]
        assert {"name": "app", "mountPath": "/app"} in serving["volumeMounts"]


def test_the_session_keeps_skaffold_inside_the_state_folder(
    settings: PlatformSettings, env: dict[str, str]
) -> None:
    assert Path(env["HOME"]).is_relative_to(settings.state)
    assert env["SKAFFOLD_UPDATE_CHECK"] == "false"
    assert env["KUBESAGA_STATE"] == str(settings.state)
    assert env["DOCKER_HOST"] == f"unix://{session.folder(settings) / 'docker.sock'}"
    config = yaml.safe_load(session.global_config(settings).read_text())
    assert config["global"]["collect-metrics"] is False
    assert config["global"]["update-check"] is False
    assert config["kubeContexts"] == [
        {"kube-context": "admin@kubesaga-local", "local-cluster": True}
    ]
    listed = skaffold(env, "config", "list", "--all")  # skaffold reads the same file
    assert "collect-metrics: false" in listed, listed


def test_the_deployed_reference_is_the_repository_and_the_image_id() -> None:
    image_id = "sha256:" + "ab" * 32
    assert unique_reference(f"{IMAGE}:0123abcd", image_id) == f"{IMAGE}:{'ab' * 32}"
    assert unique_reference("localhost:5000/app:1", image_id) == f"localhost:5000/app:{'ab' * 32}"
    assert unique_reference("localhost:5000/app", image_id) == f"localhost:5000/app:{'ab' * 32}"


class Images:
    """An image store of one image, for the API's tests."""

    def __init__(self) -> None:
        self.names = {f"{IMAGE}:1": "sha256:" + "cd" * 32}

    def inspect(self, reference: str) -> dict[str, Any] | None:
        image_id = self.names.get(reference) or (
            reference if reference in self.names.values() else None
        )
        return None if image_id is None else {"Id": image_id, "RepoTags": [reference]}

    def tag(self, reference: str, new_name: str) -> bool:
        found = self.inspect(reference)
        if found is not None:
            self.names[new_name] = found["Id"]
        return found is not None


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("docker")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Path, Images]]:
    images = Images()
    with docker_api.serving(tmp_path / "docker.sock", images) as host:
        assert host == f"unix://{tmp_path / 'docker.sock'}"
        yield tmp_path / "docker.sock", images
    assert not (tmp_path / "docker.sock").exists()


def call(path: Path, method: str, target: str) -> tuple[int, Any, str]:
    connection = UnixConnection(path)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        body = response.read().decode()
        version = response.getheader("Api-Version") or ""
    finally:
        connection.close()
    return response.status, (json.loads(body) if body.startswith(("{", "[")) else body), version


def test_the_docker_api_answers_what_skaffold_asks_after_a_custom_build(
    api: tuple[Path, Images],
) -> None:
    path, images = api
    assert call(path, "HEAD", "/_ping")[::2] == (200, docker_api.API_VERSION)
    status, version, _ = call(path, "GET", "/v1.43/version")
    assert (status, version["ApiVersion"]) == (200, docker_api.API_VERSION)
    status, image, _ = call(path, "GET", f"/v1.43/images/{IMAGE}:1/json")
    assert (status, image["Id"]) == (200, "sha256:" + "cd" * 32)
    status, missing, _ = call(path, "GET", f"/v1.43/images/{IMAGE}:2/json")
    assert (status, missing["message"]) == (404, f"No such image: {IMAGE}:2")
    target = f"/v1.43/images/sha256:{'cd' * 32}/tag?repo={IMAGE}&tag={'cd' * 32}"
    assert call(path, "POST", target)[0] == 201
    assert images.names[f"{IMAGE}:{'cd' * 32}"] == "sha256:" + "cd" * 32
    status, refused, _ = call(path, "DELETE", f"/v1.43/images/{IMAGE}:1")
    assert status == 501 and "DELETE /images/" in refused["message"], refused
    assert f"{IMAGE}:1" in images.names, "nothing is ever deleted"
