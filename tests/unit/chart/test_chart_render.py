"""charts/kubesaga rendered by the pinned helm: what every profile must hold, and what the
values schema refuses. No cluster needed (the install tests are in tests/integration/chart)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local.settings import REPO_ROOT
from tests.chart import (
    CHART,
    PRODUCTION_VALUES,
    Manifest,
    env_of,
    helm,
    named,
    of_kind,
    pod_spec,
    render,
    sets,
)

LOCAL_VALUES = REPO_ROOT / "infra" / "local" / "values-local.yaml"
WORKLOADS = ("Deployment", "StatefulSet")
SERVICES = ("orders", "inventory", "payments")


@pytest.fixture(scope="module")
def development() -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(values_files=[PRODUCTION_VALUES])


@pytest.fixture(scope="module")
def dev_mode() -> list[Manifest]:
    return render(values={"devMode.enabled": "true"})


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOADS]


def containers(workload: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize(
    "values_files",
    [[], [PRODUCTION_VALUES], [LOCAL_VALUES]],
    ids=["dev", "production", "local-platform"],
)
def test_helm_lint_passes_strictly(values_files: list[Any]) -> None:
    files = [arg for path in values_files for arg in ("-f", str(path))]
    helm("lint", "--strict", str(CHART), *files)


def test_the_chart_ships_the_very_crds_of_the_repository() -> None:
    top = sorted(p.name for p in (REPO_ROOT / "crds").glob("*.yaml"))
    ours = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert ours == top
    for name in top:
        chart_copy = (CHART / "crds" / name).read_text()
        assert chart_copy == (REPO_ROOT / "crds" / name).read_text(), f"crds/{name} differs"


def test_development_runs_every_dependency_in_the_release(development: list[Manifest]) -> None:
    assert {m["metadata"]["name"] for m in of_kind(development, "StatefulSet")} == {
        "shop-kubesaga-postgres",
        "shop-kubesaga-kafka",
        "shop-kubesaga-redis",
    }
    orders = named(development, "Deployment", "shop-kubesaga-orders")
    env = env_of(pod_spec(orders)["containers"][0])
    assert env["ORDERS_DB__URL"] == (
        "postgresql+asyncpg://kubesaga:$(KUBESAGA_POSTGRES_PASSWORD)@shop-kubesaga-postgres:5432/orders"
    )
    assert env["ORDERS_KAFKA__BOOTSTRAP_SERVERS"] == "shop-kubesaga-kafka:9092"
    assert env["ORDERS_CATALOG__BASE_URL"] == "http://shop-kubesaga-inventory"
    # $(VAR) expands only from variables defined earlier in the list.
    names = [e["name"] for e in pod_spec(orders)["containers"][0]["env"]]
    assert names.index("KUBESAGA_POSTGRES_PASSWORD") < names.index("ORDERS_DB__URL")


def test_production_runs_no_dependency_and_uses_the_given_endpoints(
    production: list[Manifest],
) -> None:
    assert of_kind(production, "StatefulSet") == []
    assert of_kind(production, "Secret") == [], "credentials come from existingSecret"
    for component in SERVICES:
        deployment = named(production, "Deployment", f"shop-kubesaga-{component}")
        env = env_of(pod_spec(deployment)["containers"][0])
        prefix = component.upper()
        assert env[f"{prefix}_ENVIRONMENT"] == "production"
        assert env[f"{prefix}_DB__URL"].endswith(
            f"@postgres.example.internal:5432/{component}?ssl=require"
        )
        assert env[f"{prefix}_KAFKA__TOPIC_REPLICATION"] == "3"
        assert env[f"{prefix}_AUTH__SERVICE_TOKEN"]["secretKeyRef"]["name"] == (
            "kubesaga-credentials"
        )


def test_every_pod_meets_the_restricted_pod_security_standard(
    development: list[Manifest], production: list[Manifest], dev_mode: list[Manifest]
) -> None:
    for workload in workloads(development) + workloads(production) + workloads(dev_mode):
        where = f"{workload['kind']} {workload['metadata']['name']}"
        pod = pod_spec(workload)["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            if container["image"].startswith("ghcr.io/kubesaga/"):
                assert context["readOnlyRootFilesystem"] is True, where


def test_dev_mode_runs_each_kubesaga_program_on_a_writable_app_under_watchfiles(
    development: list[Manifest], dev_mode: list[Manifest]
) -> None:
    """skaffold's file sync writes into /app: an emptyDir copy of the image's, mounted over it
    (the root stays read-only); watchfiles restarts the program on a .py change."""
    component = "app.kubernetes.io/component"
    kubesaga = [
        w
        for w in workloads(dev_mode)
        if w["metadata"]["labels"][component] in (*SERVICES, "operator")
    ]
    assert len(kubesaga) == 4
    for workload in kubesaga:
        where = workload["metadata"]["name"]
        spec = pod_spec(workload)
        (copy,) = [c for c in spec["initContainers"] if c["name"] == "app"]
        assert copy["args"] == ["sh", "-c", "cp -R --preserve=timestamps /app/* /dev-app/"], where
        assert copy["volumeMounts"] == [{"name": "app", "mountPath": "/dev-app"}], where
        serving = spec["containers"][0]
        assert {"name": "app", "mountPath": "/app"} in serving["volumeMounts"], where
        assert serving["args"][:8] == [
            "python", "-m", "watchfiles", "--filter", "python", "--target-type", "command",
            serving["args"][7],
        ], where  # fmt: skip
        assert serving["args"][7].startswith("python -m "), where
        assert serving["args"][8:] == ["/app"], where
        assert {"name": "app", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"], where
    orders = pod_spec(named(dev_mode, "Deployment", "shop-kubesaga-orders"))["containers"][0]
    assert orders["args"][7] == "python -m services.orders serve"
    for workload in workloads(development):  # off by default: no trace of it
        spec = pod_spec(workload)
        assert "app" not in {v["name"] for v in spec.get("volumes", [])}
        assert "watchfiles" not in spec["containers"][0].get("args", [])
    for statefulset in of_kind(dev_mode, "StatefulSet"):  # the dependencies are untouched
        assert "app" not in {v["name"] for v in pod_spec(statefulset).get("volumes", [])}


def test_services_migrate_first_and_probe_health_and_readiness(
    development: list[Manifest],
) -> None:
    for component in SERVICES:
        spec = pod_spec(named(development, "Deployment", f"shop-kubesaga-{component}"))
        migrate = spec["initContainers"][0]
        assert migrate["args"][:4] == ["python", "-m", f"services.{component}", "migrate"]
        assert "--wait" in migrate["args"]
        serving = spec["containers"][0]
        assert serving["args"] == ["python", "-m", f"services.{component}", "serve"]
        assert serving["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert serving["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert serving["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert spec["automountServiceAccountToken"] is False, "services never call the API"
    inventory = pod_spec(named(development, "Deployment", "shop-kubesaga-inventory"))
    assert [c["name"] for c in inventory["initContainers"]] == ["migrate", "seed"]


def test_the_operator_runs_one_recreated_replica_probed_by_kopf(
    development: list[Manifest],
) -> None:
    operators = [
        d for d in of_kind(development, "Deployment") if "operator" in d["metadata"]["name"]
    ]
    assert [d["metadata"]["name"] for d in operators] == ["shop-kubesaga-operator-shard-0"]
    operator = operators[0]
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    container = pod_spec(operator)["containers"][0]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert pod_spec(operator)["serviceAccountName"] == "shop-kubesaga-operator"
    assert "SAGA_SHARDS__INDEX" not in env_of(container), "one shard handles every Order"


def test_operator_shards_and_standbys_each_get_a_deployment_and_a_distinct_priority() -> None:
    manifests = render(values={"operator.shards": 3, "operator.standbys": 1})
    operators = {
        d["metadata"]["name"]: pod_spec(d)["containers"][0]
        for d in of_kind(manifests, "Deployment")
        if "operator" in d["metadata"]["name"]
    }
    assert len(operators) == 6
    for shard in range(3):
        active = operators[f"shop-kubesaga-operator-shard-{shard}"]
        standby = operators[f"shop-kubesaga-operator-shard-{shard}-standby-1"]
        for container in (active, standby):
            env = env_of(container)
            assert env["SAGA_SHARDS__COUNT"] == "3"
            assert env["SAGA_SHARDS__INDEX"] == str(shard)
        assert "--priority=100" in active["args"]
        assert "--priority=99" in standby["args"]
        # Each slot peers under its Deployment's name: a restarted or replacement pod is the
        # same peer, so it never freezes behind its dead predecessor's record.
        assert f"--identity=shop-kubesaga-operator-shard-{shard}" in active["args"]
        assert f"--identity=shop-kubesaga-operator-shard-{shard}-standby-1" in standby["args"]
    hpa_targets = [
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(manifests, "HorizontalPodAutoscaler")
    ]
    assert not [t for t in hpa_targets if "operator" in t], "the operator never scales by an HPA"


def test_autoscaling_gives_each_service_a_cpu_hpa_and_an_optional_custom_metric() -> None:
    manifests = render(
        values={
            "serviceDefaults.autoscaling.enabled": "true",
            "serviceDefaults.autoscaling.customMetric.name": "http_requests_per_second",
            "serviceDefaults.autoscaling.customMetric.averageValue": "50",
            "orders.overrides.autoscaling.maxReplicas": 8,
        }
    )
    hpas = {h["metadata"]["name"]: h["spec"] for h in of_kind(manifests, "HorizontalPodAutoscaler")}
    assert set(hpas) == {f"shop-kubesaga-{c}" for c in SERVICES}
    orders = hpas["shop-kubesaga-orders"]
    assert orders["maxReplicas"] == 8 and hpas["shop-kubesaga-payments"]["maxReplicas"] == 5
    cpu, custom = orders["metrics"]
    assert cpu["resource"]["name"] == "cpu"
    assert custom["pods"]["metric"]["name"] == "http_requests_per_second"
    for component in SERVICES:
        deployment = named(manifests, "Deployment", f"shop-kubesaga-{component}")
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_the_operator_role_is_least_privilege(development: list[Manifest]) -> None:
    assert of_kind(development, "ClusterRole") == []
    assert of_kind(development, "ClusterRoleBinding") == []
    (role,) = of_kind(development, "Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert not [g for g in granted if "*" in g], "no wildcards"
    assert not [g for g in granted if g[1] == "secrets"], "no secrets"
    assert ("kubesaga.io", "orders/status", "patch") in granted
    assert ("kopf.dev", "kopfpeerings", "patch") in granted


def test_generated_credentials_are_random_and_an_existing_secret_replaces_them() -> None:
    first = named(render(), "Secret", "shop-kubesaga")["data"]
    second = named(render(), "Secret", "shop-kubesaga")["data"]
    assert set(first) == {
        "service-token",
        "jwt-secret",
        "stripe-webhook-secret",
        "stripe-api-key",
        "postgres-password",
        "redis-password",
    }
    assert all(first[key] != second[key] for key in first)
    assert base64.b64decode(first["stripe-api-key"]).startswith(b"sk_test_")
    mine = render(values={"secrets.existingSecret": "mine"})
    assert of_kind(mine, "Secret") == []
    refs = [
        value["secretKeyRef"]["name"]
        for workload in workloads(mine)
        for container in containers(workload)
        for value in env_of(container).values()
        if isinstance(value, dict) and "secretKeyRef" in value
    ]
    assert refs and set(refs) == {"mine"}


def test_network_policies_admit_only_the_callers_the_saga_needs() -> None:
    manifests = render(values={"networkPolicy.enabled": "true"})
    inventory = named(manifests, "NetworkPolicy", "shop-kubesaga-inventory")
    callers = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in inventory["spec"]["ingress"][0]["from"]
    }
    assert callers == {"operator", "orders"}
    assert {p["metadata"]["name"] for p in of_kind(manifests, "NetworkPolicy")} >= {
        "shop-kubesaga-postgres",
        "shop-kubesaga-kafka",
        "shop-kubesaga-redis",
    }


def test_metrics_from_lets_prometheus_reach_every_service_even_a_restricted_orders(
    tmp_path: Path,
) -> None:
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "networkPolicy": {
                    "enabled": True,
                    "metricsFrom": [prometheus],
                    "ordersFrom": [{"podSelector": {"matchLabels": {"app": "gateway"}}}],
                }
            }
        )
    )
    manifests = render(values_files=[values])
    for service in ("orders", "inventory", "payments"):
        policy = named(manifests, "NetworkPolicy", f"shop-kubesaga-{service}")
        admitted = [r for r in policy["spec"]["ingress"] if prometheus in r.get("from", [])]
        assert admitted and admitted[0]["ports"] == [{"port": "http"}], service
    without = render(values={"networkPolicy.enabled": "true"})
    inventory = named(without, "NetworkPolicy", "shop-kubesaga-inventory")
    assert all("from" in rule for rule in inventory["spec"]["ingress"]), "callers only"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"environment": "staging"}, "at '/environment': value must be one of"),
        ({"operator.shards": 0}, "at '/operator/shards': minimum: got 0, want 1"),
        ({"image.pullPolicy": "Sometimes"}, "at '/image/pullPolicy'"),
        ({"kafka.enabled": "false"}, "at '/kafka/external/bootstrapServers': minLength"),
        ({"postgres.enabled": "false"}, "at '/postgres/external/host': minLength"),
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        ({"orders.overrides.replicaz": 2}, "at '/orders/overrides': additional properties"),
        ({"payments.provider": "paypal"}, "at '/payments/provider'"),
        ({"inventory.reservationTtl": "15m"}, "at '/inventory/reservationTtl'"),
        ({"telemetry.traceSampleRatio": 2}, "at '/telemetry/traceSampleRatio': maximum"),
        (
            {"serviceDefaults.autoscaling.maxReplicas": 1000},
            "at '/serviceDefaults/autoscaling/maxReplicas'",
        ),
        ({"kafka.external.bootstrapServers": "no port"}, "at '/kafka/external/bootstrapServers'"),
        (
            {"serviceDefaults.resources.requests.cpu": "lots"},
            "at '/serviceDefaults/resources/requests/cpu'",
        ),
        ({"serviceDefaults.autoscaling.customMetric.name": "rps"}, "'averageValue' required"),
    ],
)
def test_the_values_schema_refuses_bad_values_and_names_the_field(
    values: dict[str, object], message: str
) -> None:
    output = helm("template", "shop", str(CHART), *sets(values), check=False)
    assert "values don't meet the specifications of the schema" in output
    assert message in output
