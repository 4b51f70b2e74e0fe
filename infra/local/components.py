"""The processes of the local platform: what each runs, and in which start-up wave.

Read by the supervisor module (to write supervisord's config) and by the CLI (to start the
waves in order and wait for each). Flags follow what kubeadm and envtest set for a
single-host control plane, on loopback ports from settings.Ports; the real node's programs
are in infra/local/node/components.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.local.node import layout as node_layout
from infra.local.node.control_plane import apiserver_flags
from infra.local.state import State, postgres_os_user

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    # Components of one wave start together, after every earlier wave is ready.
    wave: int
    os_user: str | None = None
    stop_seconds: int = 20


def postgres_bindir() -> Path:
    """Debian keeps the server off PATH, under /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found is None:
        raise RuntimeError("no postgres server binary found; run `make tools`")
    return Path(found).parent


def components(state: State) -> list[Component]:
    settings, ports, pki = state.settings, state.settings.ports, state.pki
    k8s = settings.k8s_bin
    credentials = state.credentials()
    node = node_layout.load(state.root)
    if node is None:
        raise RuntimeError("the node has no layout yet: `up` prepares it first")
    return [
        Component(
            "etcd",
            [
                str(k8s / "etcd"),
                "--name=kubesaga",
                f"--data-dir={state.dir('etcd')}",
                f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-cluster=kubesaga=http://127.0.0.1:{ports.etcd_peer}",
                "--log-level=warn",
                # A dev cluster: keep the database small and compact it often.
                "--auto-compaction-retention=1h",
                "--quota-backend-bytes=2147483648",
            ],
            wave=0,
        ),
        Component(
            "postgres",
            [
                str(postgres_bindir() / "postgres"),
                "-D",
                str(state.postgres_root / "data"),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={ports.postgres}",
                "-c",
                f"unix_socket_directories={state.postgres_root / 'run'}",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",  # a throwaway dev database: durability across power loss is moot
            ],
            wave=0,
            os_user=postgres_os_user(),
        ),
        Component(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(ports.redis),
                "--dir",
                str(state.dir("redis")),
                "--requirepass",
                credentials.redis_password,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            wave=0,
        ),
        Component(
            "kafka",
            [
                "java",
                "-Xms256m",
                "-Xmx1g",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={state.root / 'kafka' / 'log4j2.properties'}",
                "-cp",
                f"{settings.kafka_libs}/*",
                "kafka.Kafka",
                str(state.root / "kafka" / "server.properties"),
            ],
            wave=0,
            stop_seconds=30,
        ),
        Component(
            "stripe-mock",
            [
                str(settings.tool_bin("stripe-mock", "STRIPE_MOCK_VERSION") / "stripe-mock"),
                "-http-addr",
                f"127.0.0.1:{ports.stripe_mock}",
                # It serves HTTPS too, on every interface unless told where.
                "-https-addr",
                f"127.0.0.1:{ports.stripe_mock_https}",
            ],
            wave=0,
        ),
        Component(
            "kube-apiserver",
            [
                str(k8s / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                f"--cert-dir={state.dir('kube-apiserver')}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-key-file={pki.service_account_public_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                *apiserver_flags(state, node),
                "--profiling=false",
                "--v=1",
            ],
            wave=1,
        ),
        Component(
            "kube-controller-manager",
            [
                str(k8s / "kube-controller-manager"),
                *_kube_client_flags(state.kubeconfig_for("controller-manager")),
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.controller_manager}",
                f"--cert-dir={state.dir('kube-controller-manager')}",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
            wave=2,
        ),
        Component(
            "kube-scheduler",
            [
                str(k8s / "kube-scheduler"),
                *_kube_client_flags(state.kubeconfig_for("scheduler")),
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.scheduler}",
                f"--cert-dir={state.dir('kube-scheduler')}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
            wave=2,
        ),
        Component(
            "kwok",
            [
                str(settings.tool_bin("kwok", "KWOK_VERSION") / "kwok"),
                f"--kubeconfig={state.kubeconfig_for('kwok')}",
                f"--config={settings.tool_bin('kwok', 'KWOK_VERSION').parent / 'stages.yaml'}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--manage-nodes-with-label-selector=",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.244.0.1",
                f"--server-address=127.0.0.1:{ports.kwok}",
                "--node-lease-duration-seconds=40",
            ],
            wave=2,
        ),
    ]


def _kube_client_flags(kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]
