"""Where the local platform keeps its tools and state, and which loopback ports it uses.

Built once by the CLI (`python -m infra.local`) and by the test fixtures. Every value can be
overridden from the environment with the ``KUBESAGA_`` prefix (nested with ``__``, e.g.
``KUBESAGA_PORTS__KAFKA=39092``), so two checkouts can run side by side.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = Path(__file__).with_name("versions.env")


class Ports(BaseModel):
    """Loopback ports, away from the defaults so a system Postgres or Redis does not clash."""

    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 26443
    controller_manager: int = 20257
    scheduler: int = 20259
    kwok: int = 20247
    kafka: int = 29092
    kafka_controller: int = 29093
    postgres: int = 25432
    redis: int = 26379
    stripe_mock: int = 22111
    stripe_mock_https: int = 22112


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse the shell-style versions.env that install.sh sources too."""
    versions: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def describe_versions() -> str:
    """One line naming every pinned tool, for the start-up banner."""
    return ", ".join(
        f"{key.removesuffix('_VERSION').lower().replace('_', '-')} {version}"
        for key, version in read_versions().items()
    )


def wrapper_digest(name: str, files: tuple[str, ...] = ("go.mod", "go.sum")) -> str:
    """The first 8 hex digits of sha256 over a wrapper module's files, as install.sh names it."""
    wrapper = VERSIONS_FILE.with_name(name)
    return hashlib.sha256(b"".join((wrapper / file).read_bytes() for file in files)).hexdigest()[:8]


def k8s_wrapper_digest() -> str:
    """The Kubernetes wrapper's digest: its main.go (the multi-call dispatcher) counts too."""
    return wrapper_digest("k8s", ("go.mod", "go.sum", "main.go"))


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KUBESAGA_", env_nested_delimiter="__")

    cache: Path = Field(default_factory=lambda: Path.home() / ".cache" / "kubesaga")
    state: Path = REPO_ROOT / ".local"
    ports: Ports = Ports()
    fake_nodes: int = Field(default=3, ge=1, le=50)
    ready_timeout_seconds: float = 120.0

    def tool_bin(self, tool: str, version_key: str) -> Path:
        """The bin/ folder install.sh filled for one pinned tool."""
        return self.cache / f"{tool}-{read_versions()[version_key]}" / "bin"

    @property
    def k8s_bin(self) -> Path:
        """The multi-call binary's folder, keyed like install.sh by the wrapper's digest."""
        version = f"{read_versions()['K8S_VERSION']}-{k8s_wrapper_digest()}"
        return self.cache / f"kubesaga-k8s-{version}" / "bin"

    def wrapper_bin(self, tool: str, version_key: str) -> Path:
        """bin/ of a tool built through a wrapper module (infra/local/<tool>/)."""
        version = f"{read_versions()[version_key]}-{wrapper_digest(tool)}"
        return self.cache / f"{tool}-{version}" / "bin"

    @property
    def skaffold(self) -> Path:
        return self.wrapper_bin("skaffold", "SKAFFOLD_VERSION") / "skaffold"

    @property
    def prometheus_bin(self) -> Path:
        """prometheus and promtool."""
        return self.tool_bin("prometheus", "PROMETHEUS_VERSION")

    @property
    def prometheus_operator_bin(self) -> Path:
        """operator and prometheus-config-reloader; ../manifests holds the CRDs and bundle."""
        return self.wrapper_bin("prometheus-operator", "PROMETHEUS_OPERATOR_VERSION")

    @property
    def kafka_libs(self) -> Path:
        return self.tool_bin("kafka", "KAFKA_VERSION").parent / "libs"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def endpoints_file(self) -> Path:
        return self.state / "platform.env"
