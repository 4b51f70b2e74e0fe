"""The chart's PrometheusRule through the pinned promtool: the rules are valid, and each alert
fires when it should and stays quiet otherwise (alerts/alerts_test.yaml, promtool's unit-test
format). The dashboard's queries are checked here too, for syntax; a real Prometheus runs them
in tests/deployment/test_monitoring.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.local.settings import PlatformSettings
from tests.chart import dashboard_queries, grafana_free, of_kind, render

ALERT_TESTS = Path(__file__).with_name("alerts") / "alerts_test.yaml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = PlatformSettings().prometheus_bin / "promtool"
    return subprocess.run(
        [str(binary), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered rules as a Prometheus rules file, beside a copy of the unit tests."""
    rule = of_kind(render(values={"monitoring.enabled": "true"}), "PrometheusRule")[0]
    folder = tmp_path_factory.mktemp("rules")
    (folder / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    shutil.copy(ALERT_TESTS, folder / ALERT_TESTS.name)
    return folder


def test_promtool_accepts_the_rules(rules_dir: Path) -> None:
    checked = promtool("check", "rules", "rules.yaml", cwd=rules_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "8 rules found" in checked.stdout


def test_every_alert_passes_its_promtool_unit_tests(rules_dir: Path) -> None:
    tested = promtool("test", "rules", ALERT_TESTS.name, cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    spec = of_kind(render(values={"monitoring.enabled": "true"}), "PrometheusRule")[0]["spec"]
    alerts = {rule["alert"] for group in spec["groups"] for rule in group["rules"]}
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert alerts == tested


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """promtool has no query linter; recording rules are parsed like any query."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": grafana_free(q, namespace="shop")}
        for n, q in enumerate(dashboard_queries())
    ]
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    checked = promtool("check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
