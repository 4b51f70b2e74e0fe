"""The in-cluster dependencies' stand-ins run with runc, through their official interfaces.

Postgres initialises from POSTGRES_* and /docker-entrypoint-initdb.d and serves over TCP (a
wrong password cannot be shown refused here: as in the official image, loopback is trusted,
and the container's network has loopback only); Redis takes `redis-server` arguments. Each
runs on a read-only root with its data on a writable volume, as a chart with
readOnlyRootFilesystem runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.images.oci import Bundles, bind, tmpfs

pytestmark = pytest.mark.timeout(900)


def volume(tmp_path: Path, name: str, uid: int) -> Path:
    """A data volume owned by the image's user, as fsGroup or an init step would make it."""
    path = tmp_path / name
    path.mkdir(mode=0o700)
    os.chown(path, uid, uid)
    return path


def test_postgres_initialises_from_its_environment(
    bundles: Bundles, archives: dict[str, Path], tmp_path: Path
) -> None:
    initdb = tmp_path / "initdb"
    initdb.mkdir()
    (initdb / "10-seed.sql").write_text(
        "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (1), (2);\n"
    )
    env = {"POSTGRES_USER": "saga", "POSTGRES_PASSWORD": "s3cret-pw", "POSTGRES_DB": "orders"}
    mounts = [
        bind(volume(tmp_path, "data", 999), "/var/lib/postgresql/data"),
        bind(initdb, "/docker-entrypoint-initdb.d", read_only=True),
        tmpfs("/var/run/postgresql", mode="3777"),
    ]
    with bundles.container(archives["postgres"], env=env, mounts=mounts) as container:
        container.start()
        # The first "ready" is the temporary, socket-only server the init scripts run on.
        container.wait_for_line("PostgreSQL init process complete", 90)
        container.wait_for_line("database system is ready to accept connections", 30)
        query = "SELECT current_user, current_database(), (SELECT count(*) FROM seeded)"
        psql = ["psql", "--host=127.0.0.1", "--username=saga", "--dbname=orders", "-tAc", query]
        accepted = container.exec(*psql, env={"PGPASSWORD": "s3cret-pw"})
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == "saga|orders|2"
        # As in the official image, loopback inside the container is trusted (initdb's
        # defaults); every other address must log in with the password, stored as SCRAM.
        hba = container.exec("sh", "-c", 'grep -v "^#" "$PGDATA/pg_hba.conf" | grep .')
        assert hba.stdout.splitlines()[-1].split() == ["host", "all", "all", "all", "scram-sha-256"]
        verifier = "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'saga'"
        stored = container.exec(*psql[:-1], verifier)
        assert stored.stdout.strip() == "t", stored.stderr


def test_postgres_refuses_to_initialise_without_a_password(
    bundles: Bundles, archives: dict[str, Path], tmp_path: Path
) -> None:
    mounts = [
        bind(volume(tmp_path, "data", 999), "/var/lib/postgresql/data"),
        tmpfs("/var/run/postgresql", mode="3777"),
    ]
    with bundles.container(archives["postgres"], mounts=mounts) as container:
        done = container.run()
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD is not set" in done.stdout


def test_redis_takes_server_arguments(
    bundles: Bundles, archives: dict[str, Path], tmp_path: Path
) -> None:
    args = ["/usr/bin/tini", "--", "docker-entrypoint.sh", "--requirepass", "r3dis-pw"]
    mounts = [bind(volume(tmp_path, "data", 999), "/data")]
    with bundles.container(archives["redis"], args, mounts=mounts) as container:
        container.start()
        container.wait_for_line("Ready to accept connections", 30)
        cli = ["redis-cli", "-h", "127.0.0.1", "--no-auth-warning"]
        assert container.exec(*cli, "-a", "r3dis-pw", "PING").stdout.strip() == "PONG"
        assert "NOAUTH" in container.exec(*cli, "PING").stdout
        assert container.exec(
            *cli, "-a", "r3dis-pw", "CONFIG", "GET", "protected-mode"
        ).stdout.split() == ["protected-mode", "no"]


def test_kafka_formats_with_cluster_id_and_starts_from_kafka_env(
    bundles: Bundles, archives: dict[str, Path], tmp_path: Path
) -> None:
    """The official convention: KAFKA_* -> server.properties, CLUSTER_ID formats KRaft."""
    cluster_id = "kubesagaTestCluster0Aw"
    env = {
        "CLUSTER_ID": cluster_id,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://127.0.0.1:9092",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx256m",
    }
    data = volume(tmp_path, "data", 1000)
    # The broker writes its server.properties at start-up, as upstream's does: on a read-only
    # root that folder is an emptyDir (runc gives a tmpfs its mountpoint's owner, so a bind).
    config_dir = volume(tmp_path, "config", 1000)
    mounts = [bind(data, "/var/lib/kafka/data"), bind(config_dir, "/opt/kafka/config")]
    with bundles.container(archives["kafka"], env=env, mounts=mounts) as container:
        container.start()
        container.wait_for_line("Kafka Server started", 120)
        config = container.exec("cat", "/opt/kafka/config/server.properties").stdout
        assert "num.partitions=3" in config.splitlines()
        assert "log.dirs=/var/lib/kafka/data" in config.splitlines()
        assert "heap.opts" not in config
    meta = (data / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta.splitlines()
