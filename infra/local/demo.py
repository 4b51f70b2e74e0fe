"""`make demo`: kubesaga installed with Helm on the local platform's real node, and six orders.

`make demo` has brought the platform up (its real node included) and built the images into
the node (`make images`). This installs `charts/kubesaga` as release `shop` in namespace
`shop` (the development profile: in-cluster Postgres, Kafka and Redis, with
infra/local/values-local.yaml for this 2-core machine), waits for every pod and says which it
waits for, places the six demo orders through the orders Service (a `kubectl port-forward`),
shows `kubectl get orders` until they settle, then `kubectl get orders,pods,hpa`.
Everything keeps running; `make down` stops it with the platform.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from infra.images.cli import import_images
from infra.images.node import kubesaga_tag
from infra.local import demo_orders
from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from infra.local.portforward import port_forward
from infra.local.settings import REPO_ROOT, PlatformSettings

RELEASE = NAMESPACE = "shop"
CHART = REPO_ROOT / "charts" / "kubesaga"
LOCAL_VALUES = Path(__file__).with_name("values-local.yaml")
PAYMENT_DEADLINE_SECONDS = 20  # the 3-D Secure order gives up after this (values-local.yaml)
READY_TIMEOUT_SECONDS = 600


def main() -> int:
    platform = Endpoints.load()
    settings = PlatformSettings()
    helm = settings.tool_bin("helm", "HELM_VERSION") / "helm"
    tag = kubesaga_tag(settings)
    step("importing the images into the node's containerd")
    import_images(settings, [])
    step(f"helm upgrade --install {RELEASE} charts/kubesaga (image tag {tag})")
    subprocess.run(
        [
            str(helm),
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "-f",
            str(LOCAL_VALUES),
            "--set",
            f"image.tag={tag}",
            f"--kubeconfig={platform.kubeconfig}",
        ],
        check=True,
    )
    step("waiting for every pod to be Ready (the services migrate their databases first)")
    wait_ready(platform.kubeconfig)
    step("placing orders through svc/shop-kubesaga-orders")
    with port_forward(platform.kubeconfig, NAMESPACE, "svc/shop-kubesaga-orders", 80) as port:
        placed = demo_orders.place_orders(f"http://127.0.0.1:{port}")
    demo_orders.watch(platform.kubeconfig, NAMESPACE, placed, PAYMENT_DEADLINE_SECONDS)
    print(f"\n$ kubectl get orders,pods,hpa -n {NAMESPACE}")
    print(kubectl(platform.kubeconfig, "get", "orders,pods,hpa", "-n", NAMESPACE))
    print(explore())
    return 0


def wait_ready(kubeconfig: str) -> None:
    """Poll the release's pods, printing the ones not Ready yet whenever that set changes."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    shown: list[str] | None = None
    while True:
        listed = json.loads(
            kubectl(
                kubeconfig,
                "get",
                "pods",
                "-n",
                NAMESPACE,
                "-l",
                f"app.kubernetes.io/instance={RELEASE}",
                "-o",
                "json",
            )
        )
        waiting = [
            f"{p['metadata']['name']} ({describe(p)})" for p in listed["items"] if not ready(p)
        ]
        if listed["items"] and not waiting:
            print(f"  all {len(listed['items'])} pods Ready")
            return
        if waiting != shown:
            print("  waiting for: " + (", ".join(waiting) or "the pods to be created"), flush=True)
            shown = waiting
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"pods not Ready after {READY_TIMEOUT_SECONDS}s: {', '.join(waiting)}; "
                f"see `kubectl -n {NAMESPACE} describe pods` and `kubectl -n {NAMESPACE} logs`"
            )
        time.sleep(2)


def ready(pod: dict[str, object]) -> bool:
    status = pod.get("status") or {}
    assert isinstance(status, dict)
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def describe(pod: dict[str, object]) -> str:
    """Why a pod is not Ready, in kubectl's words: the phase, or a container's waiting reason."""
    status = pod.get("status") or {}
    assert isinstance(status, dict)
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return f"{container['name']}: {waiting.get('reason', 'waiting')}"
    return str(status.get("phase", "Pending"))


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def explore() -> str:
    return f"""
Everything keeps running. Explore:
  source .local/platform.env
  kubectl -n {NAMESPACE} get orders -w
  kubectl -n {NAMESPACE} describe order <order-id>
  kubectl -n {NAMESPACE} logs deploy/shop-kubesaga-operator-shard-0
  kubectl -n {NAMESPACE} port-forward svc/shop-kubesaga-orders 8001:80   # then:
  curl -s -X POST localhost:8001/orders -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \\
       -H 'Content-Type: application/json' \\
       -d '{{"customerId":"c-1","currency":"EUR","paymentMethod":"pm_card_visa",'\\
'"items":[{{"sku":"SKU-1","quantity":1}}]}}'
  kubectl top pods -n {NAMESPACE}                                          # metrics-server
The host-process inner loop instead: make demo-processes.   Stop everything: make down
"""


if __name__ == "__main__":
    sys.exit(main())
