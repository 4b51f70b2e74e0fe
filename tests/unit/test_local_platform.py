"""The local platform's pure parts: versions, endpoints, certificates, supervisord config."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from infra.local.components import Component
from infra.local.endpoints import Endpoints
from infra.local.pki import ADMIN, CLIENT_IDENTITIES, SCHEDULER, ensure_pki
from infra.local.settings import (
    PlatformSettings,
    k8s_wrapper_digest,
    read_versions,
    wrapper_digest,
)
from infra.local.state import State
from infra.local.supervisor import Supervisor, process_tree

ENDPOINTS = Endpoints(
    kubeconfig="/tmp/k config",
    kafka_bootstrap="127.0.0.1:1",
    postgres_dsn="postgresql://u:p$w'd@127.0.0.1:2/postgres",
    redis_url="redis://:x@127.0.0.1:3/0",
    stripe_api_base="http://127.0.0.1:4",
    stripe_api_key="sk_test_x",
)


def test_read_versions_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "versions.env"
    path.write_text("# pinned\n\nK8S_VERSION=v1.2.3\n  KAFKA_VERSION = 4.0.0 \n")
    assert read_versions(path) == {"K8S_VERSION": "v1.2.3", "KAFKA_VERSION": "4.0.0"}


def test_the_repo_pins_every_tool_the_platform_runs() -> None:
    assert set(read_versions()) >= {
        "K8S_VERSION",
        "KWOK_VERSION",
        "HELM_VERSION",
        "STRIPE_MOCK_VERSION",
        "KAFKA_VERSION",
        "UV_VERSION",
    }


def test_endpoints_survive_a_round_trip_through_the_shell_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ENDPOINTS.environment():
        monkeypatch.delenv(key, raising=False)
    settings = PlatformSettings(state=tmp_path)
    ENDPOINTS.write(settings.endpoints_file, path_prefix=["/opt/bin"])
    assert Endpoints.load(settings) == ENDPOINTS
    assert 'export PATH=/opt/bin:"$PATH"' in settings.endpoints_file.read_text()


def test_environment_variables_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = PlatformSettings(state=tmp_path)
    ENDPOINTS.write(settings.endpoints_file, path_prefix=[])
    monkeypatch.setenv("KUBESAGA_KAFKA_BOOTSTRAP", "broker:9092")
    assert Endpoints.load(settings).kafka_bootstrap == "broker:9092"


def test_missing_endpoints_say_how_to_start_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(LookupError, match="make up"):
        Endpoints.load(PlatformSettings(state=tmp_path))


def test_pki_signs_every_identity_and_keeps_its_ca_on_rerun(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    for identity in CLIENT_IDENTITIES:
        cert = x509.load_pem_x509_certificate(pki.client_cert(identity).read_bytes())
        cert.verify_directly_issued_by(ca)
        subject = cert.subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity.user
        groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert tuple(groups) == identity.groups
    assert ADMIN.groups == ("system:masters",)
    assert SCHEDULER.user == "system:kube-scheduler"

    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert oct(pki.ca_key.stat().st_mode & 0o777) == "0o600"

    ensure_pki(tmp_path)
    assert x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()) == ca


def test_supervisord_config_escapes_percent_and_leaves_start_to_the_waves(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor(State(PlatformSettings(state=tmp_path)))
    config = supervisor.render(
        [Component("db", ["postgres", "-c", "log_line_prefix=%m"], wave=0, os_user="postgres")]
    )
    section = config.split("[program:db]")[1]
    assert "command=postgres -c log_line_prefix=%%m" in section
    assert "autostart=false" in section
    assert "user=postgres" in section
    assert "stopasgroup=true" in section and "killasgroup=true" in section
    assert f'KUBESAGA_PLATFORM_STATE="{tmp_path}"' in section


@pytest.mark.parametrize(
    ("root", "parents", "tree"),
    [
        (10, {}, [10]),  # no children (or already gone): the root alone
        (10, {11: 10, 12: 10, 13: 11, 20: 1}, [10, 11, 12, 13]),  # not its sibling 20
        (10, {11: 10, 12: 11, 13: 12}, [10, 11, 12, 13]),  # parents before children
        (11, {11: 10, 12: 11, 10: 1}, [11, 12]),  # not its parent
        (10, {10: 11, 11: 10}, [10, 11]),  # a cycle (pids reused mid-scan) ends
    ],
)
def test_a_kill_takes_the_process_and_every_descendant(
    root: int, parents: dict[int, int], tree: list[int]
) -> None:
    assert process_tree(root, parents) == tree


def test_postgres_data_leaves_a_folder_its_os_user_cannot_reach(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)  # mkdir's mode is masked by the umask
    state = State(PlatformSettings(state=private / "checkout" / ".local"))
    if os.geteuid() == 0:  # Postgres runs as `postgres` and could not open the data folder
        assert state.postgres_root.is_relative_to(Path("/var/tmp"))
        assert state.postgres_root == State(state.settings).postgres_root  # stable per folder
    else:  # Postgres runs as this user, who can reach its own folders
        assert state.postgres_root == state.root / "postgres"


def test_postgres_data_stays_in_a_state_folder_everyone_can_traverse() -> None:
    shared = Path("/var/tmp") / f"kubesaga-test-{uuid.uuid4().hex[:8]}" / ".local"
    state = State(PlatformSettings(state=shared))
    assert state.postgres_root == shared / "postgres"


def shell_digest(wrapper: Path, files: tuple[str, ...]) -> str:
    """What install.sh computes: the first 8 hex digits of sha256 over the files, in order."""
    paths = " ".join(str(wrapper / name) for name in files)
    return subprocess.run(
        ["bash", "-c", f"cat {paths} | sha256sum"], capture_output=True, text=True, check=True
    ).stdout[:8]


def test_the_k8s_binary_folder_is_named_by_the_same_digest_as_the_installer() -> None:
    shell = shell_digest(Path("infra/local/k8s"), ("go.mod", "go.sum", "main.go"))
    assert k8s_wrapper_digest() == shell
    version = read_versions()["K8S_VERSION"]
    assert PlatformSettings().k8s_bin.parent.name == f"kubesaga-k8s-{version}-{shell}"


@pytest.mark.parametrize(
    ("tool", "version_key"),
    [("skaffold", "SKAFFOLD_VERSION"), ("prometheus-operator", "PROMETHEUS_OPERATOR_VERSION")],
)
def test_a_wrapper_tool_folder_is_named_by_the_same_digest_as_the_installer(
    tool: str, version_key: str
) -> None:
    shell = shell_digest(Path("infra/local") / tool, ("go.mod", "go.sum"))
    assert wrapper_digest(tool) == shell
    version = read_versions()[version_key]
    assert PlatformSettings().wrapper_bin(tool, version_key).parent.name == (
        f"{tool}-{version}-{shell}"
    )
