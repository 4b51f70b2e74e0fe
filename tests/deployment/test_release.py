"""The chart on the real node: pods Ready and migrated, a saga through the Service driven by
the operator under its least-privilege ServiceAccount, pod security from inside a pod, and an
upgrade that rolls every pod while sagas are in flight and loses none."""

from __future__ import annotations

import asyncio

import pytest

from infra.local.portforward import port_forward
from tests.deployment.conftest import Release, place, settled

pytestmark = [pytest.mark.platform, pytest.mark.timeout(600)]

SERVICES = ("orders", "inventory", "payments")


def real_nodes(release: Release) -> set[str]:
    nodes = release.json("get", "nodes")["items"]
    return {
        n["metadata"]["name"]
        for n in nodes
        if "kwok.x-k8s.io/node" not in n["metadata"].get("annotations", {})
    }


def test_every_pod_runs_on_the_real_node_and_the_databases_are_migrated(
    release: Release,
) -> None:
    pods = release.pods()
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}
    assert components == {*SERVICES, "operator", "postgres", "kafka", "redis"}
    on = {p["spec"]["nodeName"] for p in pods}
    assert on <= real_nodes(release), f"pods on {on}"
    for pod in release.pods():
        statuses = pod["status"].get("initContainerStatuses", [])
        for init in statuses:
            assert init["state"]["terminated"]["exitCode"] == 0, init
    for database in SERVICES:
        assert release.psql(database, "SELECT count(*) FROM alembic_version") == "1"


async def test_an_order_through_the_service_completes_with_stock_and_payment_recorded(
    release: Release,
) -> None:
    before = int(release.psql("inventory", "SELECT committed FROM products WHERE sku = 'SKU-1'"))
    with port_forward(
        release.kubeconfig, release.namespace, f"svc/{release.component('orders')}", 80
    ) as port:
        order_id = await place(release, port)
    order = await settled(release, order_id)
    assert order["status"]["phase"] == "Completed", order["status"]
    reservation = release.psql(
        "inventory", f"SELECT status FROM reservations WHERE order_id = '{order_id}'"
    )
    assert reservation == "committed"
    after = int(release.psql("inventory", "SELECT committed FROM products WHERE sku = 'SKU-1'"))
    assert after == before + 1, "the reservation's unit is sold"
    payment = release.psql("payments", f"SELECT status FROM payments WHERE order_id = '{order_id}'")
    assert payment == "authorized"


def test_the_services_run_as_non_root_on_a_read_only_root_filesystem(release: Release) -> None:
    probe = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n"
        "    open('/probe', 'w')\n"
        "except OSError as e:\n"
        "    print(e.strerror)\n"
    )
    for component in (*SERVICES, "operator"):
        target = f"deploy/{release.component(component)}" + (
            "-shard-0" if component == "operator" else ""
        )
        out = release.kubectl("exec", target, "--", "python", "-c", probe).split("\n")
        assert out[0] == "10001 10001", (component, out)
        assert out[1] == "Read-only file system", (component, out)


async def test_an_upgrade_rolls_every_pod_and_loses_no_saga_in_flight(release: Release) -> None:
    """The operator is Recreated and the services rolled while eight sagas run."""
    rolled = {c: {p["metadata"]["uid"] for p in release.pods(c)} for c in (*SERVICES, "operator")}
    service = f"svc/{release.component('orders')}"
    with port_forward(release.kubeconfig, release.namespace, service, 80) as port:
        placed = [await place(release, port, sku="SKU-5") for _ in range(8)]
    # Any value every kubesaga container reads rolls them all.
    await asyncio.to_thread(release.upgrade, "telemetry.logLevel=DEBUG")
    for component, before in rolled.items():
        now = {  # helm's --wait waits for the new pods, not for the old ones to be gone
            p["metadata"]["uid"]
            for p in release.pods(component)
            if not p["metadata"].get("deletionTimestamp")
        }
        assert now and not now & before, f"{component} was not rolled"
    ends = [await settled(release, order_id, timeout=180) for order_id in placed]
    assert [o["status"]["phase"] for o in ends] == ["Completed"] * len(placed)
    listed = ", ".join(f"'{order_id}'" for order_id in placed)
    payments = release.psql(
        "payments", f"SELECT status, count(*) FROM payments WHERE order_id IN ({listed}) GROUP BY 1"
    )
    assert payments == f"authorized|{len(placed)}", "one payment per saga, each kept"
    reservations = release.psql(
        "inventory",
        f"SELECT status, count(*) FROM reservations WHERE order_id IN ({listed}) GROUP BY 1",
    )
    assert reservations == f"committed|{len(placed)}"
