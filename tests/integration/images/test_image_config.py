"""What each archive says about its image: user, entrypoint, command, labels, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.images import catalog
from infra.local.settings import PlatformSettings, read_versions
from tests.integration.images.oci import image_config, references

pytestmark = pytest.mark.timeout(900)

OCI_LABELS = ("title", "source", "version", "licenses")
VERSIONS = read_versions()

TINI = ["/usr/bin/tini", "--"]
OFFICIAL_ENTRYPOINT = [*TINI, "docker-entrypoint.sh"]
STRIPE_MOCK = ["/stripe-mock", "-http-port", "12111", "-https-port", "12112"]
ORDERS = ["python", "-m", "services.orders", "serve"]
# name -> (user, entrypoint, cmd, ports) as the official images have them (kubesaga: ours).
EXPECTED = {
    "kubesaga": ("10001:10001", TINI, ORDERS, set()),
    "postgres": ("999:999", OFFICIAL_ENTRYPOINT, ["postgres"], {"5432/tcp"}),
    "redis": ("999:999", OFFICIAL_ENTRYPOINT, ["redis-server"], {"6379/tcp"}),
    "kafka": ("1000:1000", TINI, ["/etc/kafka/docker/run"], {"9092/tcp"}),
    "stripe-mock": ("65532:65532", STRIPE_MOCK, None, {"12111/tcp", "12112/tcp"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_runs_as_a_numeric_non_root_user(archives: dict[str, Path], name: str) -> None:
    user = image_config(archives[name])["config"]["User"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), f"{name}: user {user!r} is not numeric"
    assert int(uid) != 0 and int(gid) != 0
    assert user == EXPECTED[name][0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_entrypoint_command_and_ports(archives: dict[str, Path], name: str) -> None:
    config = image_config(archives[name])["config"]
    _, entrypoint, cmd, ports = EXPECTED[name]
    assert config["Entrypoint"] == entrypoint
    assert config.get("Cmd") == cmd
    assert set(config.get("ExposedPorts", {})) == ports


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_carries_the_oci_labels(archives: dict[str, Path], name: str) -> None:
    labels = image_config(archives[name])["config"]["Labels"]
    for key in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{key}"), f"{name}: no {key} label"


def test_kubesaga_is_labelled_and_tagged_with_this_revision(archives: dict[str, Path]) -> None:
    labels = image_config(archives["kubesaga"])["config"]["Labels"]
    version = catalog.project_version()
    assert labels["org.opencontainers.image.revision"] == catalog.git_revision()
    assert labels["org.opencontainers.image.version"] == version
    assert references(archives["kubesaga"]) == [
        f"ghcr.io/kubesaga/kubesaga:{version}",
        "ghcr.io/kubesaga/kubesaga:dev",
    ]


def test_dependencies_carry_the_official_names(archives: dict[str, Path]) -> None:
    assert references(archives["postgres"]) == ["docker.io/library/postgres:15-bookworm"]
    assert references(archives["redis"]) == ["docker.io/library/redis:7.0-bookworm"]
    assert references(archives["kafka"]) == [f"docker.io/apache/kafka:{VERSIONS['KAFKA_VERSION']}"]
    assert references(archives["stripe-mock"]) == [
        f"docker.io/stripe/stripe-mock:{VERSIONS['STRIPE_MOCK_VERSION']}"
    ]


def test_the_uv_the_kubesaga_image_mounts_is_the_pinned_one() -> None:
    """The Containerfile names uv's image literally (docker expands no ARG in --mount)."""
    pinned = f"from=ghcr.io/astral-sh/uv:{VERSIONS['UV_VERSION']},"
    containerfile = catalog.IMAGES_DIR / "kubesaga" / "Containerfile"
    assert pinned in containerfile.read_text()
    uv = catalog.select(catalog.catalog(PlatformSettings()), ["uv"])[0]
    assert uv.tags == (f"ghcr.io/astral-sh/uv:{VERSIONS['UV_VERSION']}",)
