"""`make demo-processes`: the services and the operator as host processes, and the demo orders.

The fast inner loop: no images, no Helm; the code in this checkout runs as it is.

Starts orders (:8001), inventory (:8002), payments (:8003) and the operator (metrics :9090)
as background processes (logs in .local/logs/), after migrating their databases and loading
the demo catalog; applies the CRDs; places six orders (three that complete, one out of
stock, one declined card, one waiting for 3-D Secure until its payment deadline passes);
shows `kubectl get orders` until they settle. Its events go to topics of its own
(`demo.kubesaga.*`), apart from what tests publish. Everything keeps running; `make down` stops it
(each process carries the platform's instance marker, which `down` sweeps).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.local import demo_orders
from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from infra.local.settings import PlatformSettings
from infra.local.state import State
from infra.local.supervisor import INSTANCE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "kubesaga"
PAYMENT_DEADLINE_SECONDS = 20  # the demo's 3-D Secure order times out after this
PORTS = {"orders": 8001, "inventory": 8002, "payments": 8003}
TOPIC_PREFIX = "demo."  # demo.kubesaga.orders, ...
BRIDGE_READY = b"consumer group saga-bridge now reads"  # logged once partitions are assigned


def main() -> int:
    state = State(PlatformSettings())
    platform = Endpoints.load()
    logs = state.logs
    base = {**os.environ, INSTANCE_VARIABLE: str(state.root), "KUBECONFIG": platform.kubeconfig}
    step("CRDs and namespace")
    kubectl(platform.kubeconfig, "apply", "-f", str(ROOT / "crds"))
    kubectl(platform.kubeconfig, "wait", "--for=condition=Established", "crd/orders.kubesaga.io")
    namespaces = kubectl(platform.kubeconfig, "get", "namespaces", "-o", "name")
    if f"namespace/{NAMESPACE}" not in namespaces.split():
        kubectl(platform.kubeconfig, "create", "namespace", NAMESPACE)

    env = {**base, **service_environment(platform)}
    for name in PORTS:
        if healthy(name):
            print(f"  {name} is already running on :{PORTS[name]}")
            continue
        step(f"{name}: migrate{' and load the demo catalog' if name == 'inventory' else ''}")
        run([sys.executable, "-m", f"services.{name}", "migrate"], env)
        if name == "inventory":
            run([sys.executable, "-m", "services.inventory", "seed", "--reset-stock"], env)
        spawn(name, [sys.executable, "-m", f"services.{name}", "serve"], env, logs)
    for name in PORTS:
        wait_healthy(name, logs)
    if not operator_running():
        step("saga operator (waits until its bridge reads Kafka)")
        log = logs / "saga-operator.log"
        start = log.stat().st_size if log.exists() else 0
        command = [sys.executable, "-m", "operators.saga", "run", "--identity", "demo-operator"]
        spawn("saga-operator", command, env, logs)
        wait_logged(log, start, BRIDGE_READY, "the saga operator's bridge")
    step("placing orders")
    placed = demo_orders.place_orders(f"http://127.0.0.1:{PORTS['orders']}")
    demo_orders.watch(platform.kubeconfig, NAMESPACE, placed, PAYMENT_DEADLINE_SECONDS)
    print(explore(logs))
    return 0


def service_environment(platform: Endpoints) -> dict[str, str]:
    server = platform.postgres_dsn.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    env = {
        "SAGA_NAMESPACE": NAMESPACE,
        # Tests on this platform publish to the bare topic names: the demo keeps to its own.
        "SAGA_KAFKA__TOPIC_PREFIX": TOPIC_PREFIX,
        "SAGA_KAFKA__BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
        "SAGA_DEADLINES__PAYMENT_SECONDS": str(PAYMENT_DEADLINE_SECONDS),
        "ORDERS_CATALOG__BASE_URL": f"http://127.0.0.1:{PORTS['inventory']}",
        "PAYMENTS_PROVIDER": "simulated",
    }
    for name, port in PORTS.items():
        prefix = name.upper()
        env[f"{prefix}_DB__URL"] = f"{server}/kubesaga_{name}"
        env[f"{prefix}_KAFKA__BOOTSTRAP_SERVERS"] = platform.kafka_bootstrap
        env[f"{prefix}_KAFKA__TOPIC_PREFIX"] = TOPIC_PREFIX
        env[f"{prefix}_REDIS__URL"] = platform.redis_url
        env[f"{prefix}_HTTP__PORT"] = str(port)
        env[f"{prefix}_SERVICE_NAME"] = name
    return env


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed:\n{result.stdout}{result.stderr}")


def spawn(name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
    log = open(logs / f"{name}.log", "ab")
    subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    print(f"  started {name} (log: {logs / name}.log)")


def healthy(name: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{PORTS[name]}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_healthy(name: str, logs: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start; see {logs / name}.log")
        time.sleep(0.3)


def wait_logged(log: Path, start: int, marker: bytes, what: str, timeout: float = 90) -> None:
    """Wait for ``marker`` in ``log`` past ``start``: the process said it is ready."""
    deadline = time.monotonic() + timeout
    while marker not in log.read_bytes()[start:]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} is not ready after {timeout:.0f}s; see {log}")
        time.sleep(0.3)


def operator_running() -> bool:
    try:
        return httpx.get("http://127.0.0.1:9090/metrics", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def explore(logs: Path) -> str:
    return f"""
Everything keeps running. Explore:
  source .local/platform.env
  kubectl get orders -n {NAMESPACE} -w
  kubectl describe order -n {NAMESPACE} <order-id>     # status, conditions, steps, events
  curl -s localhost:8001/orders/<order-id>             # the orders service's timeline
  curl -s localhost:8002/products/SKU-7                # stock
  curl -s -X POST localhost:8001/orders -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \\
       -H 'Content-Type: application/json' \\
       -d '{{"customerId":"c-1","currency":"EUR","paymentMethod":"pm_card_visa",'\\
'"items":[{{"sku":"SKU-1","quantity":1}}]}}'
  metrics: localhost:9090/metrics (operator), localhost:800{{1,2,3}}/metrics (services)
  logs:    {logs}/{{orders,inventory,payments,saga-operator}}.log
Stop everything: make down
"""


if __name__ == "__main__":
    sys.exit(main())
