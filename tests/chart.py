"""Running the pinned helm on charts/kubesaga, for the chart's tests (rendering and installs)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.local.settings import REPO_ROOT, PlatformSettings

CHART = REPO_ROOT / "charts" / "kubesaga"
PRODUCTION_VALUES = CHART / "values-production.yaml"

Manifest = dict[str, Any]


def helm(*args: str, kubeconfig: str | Path | None = None, check: bool = True) -> str:
    """helm's stdout; with ``check``, a failure raises RuntimeError carrying its stderr."""
    binary = PlatformSettings().tool_bin("helm", "HELM_VERSION") / "helm"
    extra = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    result = subprocess.run(
        [str(binary), *args, *extra], capture_output=True, text=True, check=False, timeout=480
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout if check else result.stdout + result.stderr


def sets(values: Mapping[str, object]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def render(
    *,
    values_files: Iterable[Path] = (),
    values: Mapping[str, object] | None = None,
    release: str = "shop",
    namespace: str = "shop",
    api_versions: Iterable[str] = (),
) -> list[Manifest]:
    """The objects ``helm install`` would create (the chart's CRDs included), on a cluster that
    serves ``api_versions`` besides the built-in ones."""
    files = [arg for path in values_files for arg in ("-f", str(path))]
    files += [arg for version in api_versions for arg in ("--api-versions", version)]
    text = helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--include-crds",
        *files,
        *sets(values or {}),
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: Iterable[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value, or the valueFrom mapping for variables that come from elsewhere."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


DASHBOARD = CHART / "dashboards" / "kubesaga.json"


def dashboard_queries() -> list[str]:
    """Every PromQL query of the dashboard: its panels' and its query variables'."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(
                variable["query"]["query"].removeprefix("label_values(").rsplit(",", 1)[0]
            )
    return queries


def grafana_free(query: str, *, namespace: str, rate_interval: str = "1m") -> str:
    """``query`` as Grafana would send it to Prometheus, its variables replaced."""
    for variable, value in {"$namespace": namespace, "$__rate_interval": rate_interval}.items():
        query = query.replace(variable, value)
    assert "$" not in query, f"a Grafana variable the tests do not know: {query}"
    return query
