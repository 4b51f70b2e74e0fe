"""Every image kubesaga builds: its Containerfile, its tags, its build arguments and contexts.

The in-cluster dependencies are tagged with the official images' names, so a chart that
defaults to them runs unchanged here (found locally) and on kind (pulled). Order matters:
an image comes after every image it builds FROM or bind-mounts.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

from infra.local.settings import REPO_ROOT, PlatformSettings, read_versions

IMAGES_DIR = REPO_ROOT / "images"
BASE_REFERENCE = "docker.io/library/debian:bookworm-slim"
KUBESAGA_REPOSITORY = "ghcr.io/kubesaga/kubesaga"
PROMETHEUS_OPERATOR_REPOSITORY = "quay.io/prometheus-operator"


@dataclasses.dataclass(frozen=True)
class Image:
    """One Containerfile and how to build it; ``tags[0]`` names its archive's main reference."""

    name: str
    tags: tuple[str, ...]
    build_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Named build contexts (`COPY --from=NAME`): artefacts the installer already cached.
    contexts: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    # Images this one builds FROM or bind-mounts, besides the Debian base.
    requires: tuple[str, ...] = ()
    # Set by `buildah bud --label`: buildah's layer cache ignores a changed ARG in a LABEL
    # step, so a label that follows the git revision is given on the command line too.
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # False for build-time helpers that no cluster runs (the uv stand-in).
    archive: bool = True

    @property
    def containerfile(self) -> Path:
        return IMAGES_DIR / self.name / "Containerfile"


def project_version() -> str:
    """pyproject's version plus the short git revision, e.g. ``0.1.0-33fb112``."""
    version = str(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"])
    return f"{version}-{git_revision(short=True)}"


def git_revision(*, short: bool = False) -> str:
    """HEAD's commit, or ``unknown`` outside a git checkout."""
    command = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def catalog(settings: PlatformSettings) -> list[Image]:
    """The images in build order."""
    versions = read_versions()
    kafka, stripe_mock, uv = (
        versions["KAFKA_VERSION"],
        versions["STRIPE_MOCK_VERSION"],
        versions["UV_VERSION"],
    )
    operator, prometheus = versions["PROMETHEUS_OPERATOR_VERSION"], versions["PROMETHEUS_VERSION"]
    operator_bin = {"prometheus-operator-bin": settings.prometheus_operator_bin}
    version = project_version()
    return [
        Image("uv", (f"ghcr.io/astral-sh/uv:{uv}",), {"UV_VERSION": uv}, archive=False),
        Image(
            "kubesaga",
            (f"{KUBESAGA_REPOSITORY}:{version}", f"{KUBESAGA_REPOSITORY}:dev"),
            {"VERSION": version, "REVISION": git_revision()},
            requires=("uv",),
            labels={
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.revision": git_revision(),
            },
        ),
        Image("postgres", ("docker.io/library/postgres:15-bookworm",)),
        Image("redis", ("docker.io/library/redis:7.0-bookworm",)),
        Image(
            "kafka",
            (f"docker.io/apache/kafka:{kafka}",),
            {"KAFKA_VERSION": kafka},
            {"kafka-libs": settings.kafka_libs},
        ),
        Image(
            "stripe-mock",
            (f"docker.io/stripe/stripe-mock:{stripe_mock}",),
            {"STRIPE_MOCK_VERSION": stripe_mock},
            {"stripe-mock-bin": settings.tool_bin("stripe-mock", "STRIPE_MOCK_VERSION")},
        ),
        # Prometheus Operator and the Prometheus it runs (`python -m infra.local monitoring`).
        Image(
            "prometheus-operator",
            (f"{PROMETHEUS_OPERATOR_REPOSITORY}/prometheus-operator:{operator}",),
            {"PROMETHEUS_OPERATOR_VERSION": operator},
            operator_bin,
        ),
        Image(
            "prometheus-config-reloader",
            (f"{PROMETHEUS_OPERATOR_REPOSITORY}/prometheus-config-reloader:{operator}",),
            {"PROMETHEUS_OPERATOR_VERSION": operator},
            operator_bin,
        ),
        Image(
            "prometheus",
            (f"quay.io/prometheus/prometheus:{prometheus}",),
            {"PROMETHEUS_VERSION": prometheus},
            {"prometheus-bin": settings.prometheus_bin},
        ),
    ]


def select(images: list[Image], names: list[str]) -> list[Image]:
    """The named images (all when none is named), in build order; unknown names are an error."""
    known = {image.name for image in images}
    unknown = sorted(set(names) - known)
    if unknown:
        raise LookupError(
            f"no image named {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    wanted = set(names) if names else known
    for image in reversed(images):  # requirements come earlier in build order
        if image.name in wanted:
            wanted.update(image.requires)
    return [image for image in images if image.name in wanted]
