"""The real worker node runs real pods: an image imported without a registry, a Deployment
and its Service, logs, exec, cluster DNS, the API through the `kubernetes` Service, metrics.

The image is a static busybox and a small static Go client (incluster/main.go), packed by
infra/local/node/images.py and imported into the node's containerd; `imagePullPolicy: Never`
proves nothing is pulled. Everything the pod is asked to do goes through the apiserver and
the kubelet, as `kubectl` users do.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from infra.local.node import images
from infra.local.node.layout import NODE_NAME
from infra.local.settings import PlatformSettings
from tests.support import eventually

IMAGE = "localhost/kubesaga-test-busybox:1"
BUSYBOX = "/bin/busybox"
INCLUSTER = "/incluster"
# Serves one page on :8080 and says so on stdout, for `kubectl logs`.
SERVE = (
    f"{BUSYBOX} mkdir -p /www && {BUSYBOX} echo hello-from-the-node > /www/index.html"
    f" && {BUSYBOX} echo serving && exec {BUSYBOX} httpd -f -p 8080 -h /www"
)


@pytest.fixture(scope="module")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("image")
    client = folder / "incluster"
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(client), "main.go"],
        cwd=Path(__file__).with_name("incluster"),
        env={**os.environ, "CGO_ENABLED": "0"},
        check=True,
        timeout=120,
    )
    archive = folder / "busybox.tar"
    images.pack(
        archive,
        files={BUSYBOX: Path(BUSYBOX), INCLUSTER: client},
        entrypoint=[BUSYBOX],
        tag="1",
    )
    report = images.import_archive(
        PlatformSettings().state, archive, base_name=IMAGE.rsplit(":", 1)[0]
    )
    assert IMAGE in report, report
    return IMAGE


def test_an_archive_whose_image_the_node_holds_is_not_imported_again(
    busybox_image: str, tmp_path: Path
) -> None:
    """What `make images` writes: an OCI archive naming its image in full in index.json."""
    held = images.image_digests(PlatformSettings().state)[busybox_image]
    named = tmp_path / "named.tar"
    with tarfile.open(named, "w") as tar:
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": held,
                    "size": 1,
                    "annotations": {"org.opencontainers.image.ref.name": busybox_image},
                }
            ],
        }
        data = json.dumps(index).encode()
        entry = tarfile.TarInfo("index.json")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    assert images.archive_references(named) == {busybox_image: held}
    report = images.import_archive(PlatformSettings().state, named)
    assert report == f"already present {busybox_image} ({held})\n"


def manifests(image: str) -> dict[str, object]:
    labels = {"app": "web"}
    pod_spec = {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "web",
                "image": image,
                "imagePullPolicy": "Never",
                "command": [BUSYBOX, "sh", "-c", SERVE],
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        ],
    }


@pytest.mark.timeout(150)
async def test_a_pod_runs_on_the_real_node(
    platform: Endpoints, busybox_image: str, namespace: str
) -> None:
    config = platform.kubeconfig

    def k(*args: str, input: str | None = None) -> str:
        return kubectl(config, "--namespace", namespace, *args, input=input)

    k("apply", "-f", "-", input=json.dumps(manifests(busybox_image)))
    k("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
    pod = json.loads(k("get", "pods", "-l", "app=web", "-o", "json"))["items"][0]
    name = pod["metadata"]["name"]
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert pod["status"]["podIP"].startswith("10.202.")

    assert "serving" in k("logs", name)

    def inside(*command: str) -> str:
        return k("exec", name, "--", BUSYBOX, *command)

    # CoreDNS answers the search-path name the way pods use it.
    resolved = inside("nslookup", "kubernetes.default.svc.cluster.local")
    assert "10.96.0.1" in resolved, resolved
    service_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    assert service_ip in inside("nslookup", f"web.{namespace}.svc.cluster.local")

    # kube-proxy: the pod reaches itself through its Service's cluster IP.
    assert "hello-from-the-node" in inside("wget", "-qO-", f"http://{service_ip}/")

    # In-cluster config: the API through the `kubernetes` Service, its certificate checked
    # against the cluster CA, the pod's token naming its service account.
    def api(path: str) -> tuple[str, str]:
        status, _, body = k("exec", name, "--", INCLUSTER, path).partition(" ")
        return status, body

    status, body = api("/version")
    assert status == "200" and json.loads(body)["gitVersion"].startswith("v1."), body
    status, body = api(f"/api/v1/namespaces/{namespace}/secrets")
    assert status == "403" and f"system:serviceaccount:{namespace}:default" in body, body

    # metrics-server has scraped the kubelet once the pod's first CPU rate exists.
    async def pod_metrics() -> str | None:
        try:
            top = k("top", "pod", name, "--no-headers")
        except RuntimeError:
            return None
        return top if name in top else None

    top = await eventually(pod_metrics, timeout=60, what="kubectl top pod")
    assert top.split()[0] == name
    node_metrics = json.loads(
        kubectl(config, "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/nodes/{NODE_NAME}")
    )
    assert node_metrics["usage"]["memory"]
