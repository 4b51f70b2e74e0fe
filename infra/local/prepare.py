"""One-time preparation of the state folder before any process starts.

Called by `up` on every start; each step checks first and does nothing when its output is
already there, so restarting the platform keeps etcd's objects, Kafka's topics and
Postgres' databases.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

from infra.local.components import postgres_bindir
from infra.local.kubeconfig import write_kubeconfig
from infra.local.node import layout as node_layout
from infra.local.node.prepare import prepare_node
from infra.local.pki import ADMIN, CONTROLLER_MANAGER, KWOK, SCHEDULER, ensure_pki
from infra.local.state import State, postgres_os_user

KAFKA_LOG4J2 = """\
# Written by infra/local/prepare.py. Broker logs go to stdout, which supervisord files.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka_request.name = kafka.request.logger
logger.kafka_request.level = WARN
logger.state_change.name = state.change.logger
logger.state_change.level = WARN
"""


def prepare(state: State) -> None:
    state.logs  # noqa: B018 - creates the folder supervisord writes into
    layout = node_layout.plan(state.root)
    pki = ensure_pki(state.root / "pki", serving_ips=(layout.node_ip,))
    server = f"https://127.0.0.1:{state.settings.ports.apiserver}"
    write_kubeconfig(state.settings.kubeconfig, pki=pki, identity=ADMIN, server=server)
    for name, identity in (
        ("controller-manager", CONTROLLER_MANAGER),
        ("scheduler", SCHEDULER),
        ("kwok", KWOK),
    ):
        write_kubeconfig(state.kubeconfig_for(name), pki=pki, identity=identity, server=server)
    _prepare_kafka(state)
    _prepare_postgres(state)
    prepare_node(state, layout)


def _prepare_kafka(state: State) -> None:
    folder = state.dir("kafka")
    ports = state.settings.ports
    data = folder / "data"
    (folder / "log4j2.properties").write_text(KAFKA_LOG4J2)
    (folder / "server.properties").write_text(
        "\n".join(
            [
                "# Written by infra/local/prepare.py: one KRaft node, broker and controller.",
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{ports.kafka_controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{ports.kafka},"
                f"CONTROLLER://127.0.0.1:{ports.kafka_controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{ports.kafka}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=3",
                # As in production, topics are created on purpose (services do it at start-up).
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=24",
                "",
            ]
        )
    )
    if (data / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    _run(
        "format Kafka storage",
        [
            "java",
            f"-Dlog4j2.configurationFile={folder / 'log4j2.properties'}",
            "-cp",
            f"{state.settings.kafka_libs}/*",
            "kafka.tools.StorageTool",
            "format",
            # One `=` argument: a URL-safe base64 id starts with `-` one time in 64, which
            # argparse would read as an option ("--cluster-id: expected one argument").
            f"--cluster-id={cluster_id}",
            "--config",
            str(folder / "server.properties"),
        ],
    )


def _prepare_postgres(state: State) -> None:
    folder = state.postgres_root
    folder.mkdir(parents=True, exist_ok=True)
    data, run = folder / "data", folder / "run"
    os_user = postgres_os_user()
    run.mkdir(exist_ok=True)
    if os_user:
        shutil.chown(folder, os_user)
        shutil.chown(run, os_user)
    credentials = state.credentials()
    stamp = folder / "credentials.sha256"
    owner = hashlib.sha256(credentials.postgres_password.encode()).hexdigest()
    if (data / "PG_VERSION").exists():
        if folder.is_relative_to(state.root) or _read(stamp) == owner:
            return
        # A /var/tmp folder left by an earlier state folder at this path (a deleted clone):
        # its password is not ours, so the server would refuse us. Start it afresh.
        print(f"  {folder} belongs to an earlier checkout at this path; initialising it anew")
        shutil.rmtree(data)
    password_file = folder / "initdb.pw"
    password_file.write_text(credentials.postgres_password + "\n")
    password_file.chmod(0o600)
    if os_user:
        shutil.chown(password_file, os_user)
    try:
        _run(
            "initialise Postgres",
            [
                str(postgres_bindir() / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                credentials.postgres_user,
                "--pwfile",
                str(password_file),
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-locale",
            ],
            user=os_user,
        )
    finally:
        password_file.unlink()
    stamp.write_text(owner + "\n")


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _run(what: str, argv: list[str], user: str | None = None) -> None:
    print(f"  {what} ...", flush=True)
    result = subprocess.run(argv, capture_output=True, text=True, user=user, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"could not {what} (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
