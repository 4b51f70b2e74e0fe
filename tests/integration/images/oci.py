"""Reading and running built images with real tools: an OCI archive's config, umoci, runc.

`Bundles.rootfs` unpacks an archive once with `umoci unpack`; each `Container` is a runc
bundle over that root filesystem, mounted read-only as a cluster would run it with
``readOnlyRootFilesystem``, with a tmpfs /tmp (the chart's emptyDir). A container gets a
network namespace of its own in which only loopback exists (brought up by a createRuntime
hook), so servers in it are reachable through `exec` and never from outside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

# runc passes the container's state (JSON with its pid) on the hook's stdin.
LOOPBACK_UP = (
    "pid=$(sed -E 's/.*\"pid\": ?([0-9]+).*/\\1/'); "
    'exec nsenter --net=/proc/"$pid"/ns/net ip link set lo up'
)


def archive_json(archive: Path, member: str) -> Any:
    with tarfile.open(archive) as tar:
        extracted = tar.extractfile(member)
        assert extracted is not None, f"{member} is not a file in {archive}"
        return json.load(extracted)


def blob(archive: Path, digest: str) -> Any:
    return archive_json(archive, "blobs/" + digest.replace(":", "/"))


def image_config(archive: Path) -> dict[str, Any]:
    """The OCI image configuration (``config`` holds User, Entrypoint, Cmd, Labels...)."""
    index = archive_json(archive, "index.json")
    manifest = blob(archive, index["manifests"][0]["digest"])
    config: dict[str, Any] = blob(archive, manifest["config"]["digest"])
    return config


def references(archive: Path) -> list[str]:
    index = archive_json(archive, "index.json")
    return [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]


class Bundles:
    """Unpacked images under one scratch folder, each unpacked once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._unpacked: dict[Path, Path] = {}

    def unpack(self, archive: Path) -> Path:
        """The runtime bundle umoci makes of the archive's first reference."""
        if archive not in self._unpacked:
            target = self.root / archive.stem
            layout = target / "layout"
            layout.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                tar.extractall(layout, filter="tar")
            reference = references(archive)[0]
            bundle = target / "bundle"
            subprocess.run(
                ["umoci", "unpack", "--image", f"{layout}:{reference}", str(bundle)],
                check=True,
                capture_output=True,
            )
            shutil.rmtree(layout)
            self._unpacked[archive] = bundle
        return self._unpacked[archive]

    def rootfs(self, archive: Path) -> Path:
        return self.unpack(archive) / "rootfs"

    def container(
        self,
        archive: Path,
        args: Sequence[str] | None = None,
        env: Mapping[str, str] = {},
        mounts: Sequence[Mapping[str, object]] = (),
    ) -> Container:
        """A container of the image (its own entrypoint and command unless ``args``);
        ``mounts`` are OCI mounts, e.g. a writable data volume or an emptyDir."""
        return Container(self.unpack(archive), self.root / "runc", args, env, mounts)


class Container:
    """One runc container; use it as a context manager so it is always deleted."""

    def __init__(
        self,
        image_bundle: Path,
        runc_root: Path,
        args: Sequence[str] | None,
        env: Mapping[str, str],
        mounts: Sequence[Mapping[str, object]] = (),
    ) -> None:
        self.id = f"kubesaga-image-test-{uuid.uuid4().hex[:10]}"
        self.runc_root = runc_root
        self.bundle = image_bundle.parent / self.id
        self.bundle.mkdir()
        config = json.loads((image_bundle / "config.json").read_text())
        process = config["process"]
        process["terminal"] = False
        if args is not None:
            process["args"] = list(args)
        process["env"] = [*process["env"], *(f"{key}={value}" for key, value in env.items())]
        config["root"] = {"path": str(image_bundle / "rootfs"), "readonly": True}
        config["mounts"].append(tmpfs("/tmp"))
        config["mounts"].extend(dict(mount) for mount in mounts)
        config["linux"]["cgroupsPath"] = f"/{self.id}"
        config["hooks"] = {
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", LOOPBACK_UP]}]
        }
        (self.bundle / "config.json").write_text(json.dumps(config))
        self.process: subprocess.Popen[str] | None = None

    def runc(self, *args: str) -> list[str]:
        return ["runc", "--root", str(self.runc_root), *args]

    def start(self) -> Self:
        """Start the container in the background; its output is read through :meth:`lines`."""
        self.process = subprocess.Popen(
            self.runc("run", "--bundle", str(self.bundle), self.id),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self

    def run(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the container to completion; stdout and stderr together."""
        done = subprocess.run(
            self.runc("run", "--bundle", str(self.bundle), self.id),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout + done.stderr)

    def wait_for_line(self, needle: str, timeout: float) -> list[str]:
        """Read output until a line contains ``needle``; every line read so far."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        os.set_blocking(self.process.stdout.fileno(), False)
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line:
                seen.append(line.rstrip("\n"))
                if needle in line:
                    return seen
            elif self.process.poll() is not None:
                break
            else:
                time.sleep(0.05)
        raise AssertionError(
            f"no line with {needle!r} within {timeout}s; output:\n" + "\n".join(seen)
        )

    def exec(
        self, *args: str, env: Mapping[str, str] = {}, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the running container (its namespaces and user)."""
        options = [f"--env={key}={value}" for key, value in env.items()]
        return subprocess.run(
            self.runc("exec", *options, self.id, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def signal(self, name: str) -> None:
        subprocess.run(self.runc("kill", self.id, name), check=True, capture_output=True)

    def wait(self, timeout: float) -> tuple[int, str]:
        """Wait for the container to exit: its status and the output not read before."""
        assert self.process is not None and self.process.stdout is not None
        status = self.process.wait(timeout=timeout)
        os.set_blocking(self.process.stdout.fileno(), True)
        return status, self.process.stdout.read()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(self.runc("kill", self.id, "KILL"), capture_output=True)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            if self.process.stdout is not None:
                self.process.stdout.close()
        subprocess.run(self.runc("delete", "--force", self.id), capture_output=True)
        shutil.rmtree(self.bundle, ignore_errors=True)


def bind(source: Path, destination: str, *, read_only: bool = False) -> dict[str, object]:
    """An OCI bind mount, as a volume or a ConfigMap would be."""
    options = ["rbind", "ro" if read_only else "rw"]
    return {"destination": destination, "type": "bind", "source": str(source), "options": options}


def tmpfs(destination: str, mode: str = "1777") -> dict[str, object]:
    """A tmpfs, as an emptyDir with medium Memory would be."""
    options = ["nosuid", "nodev", f"mode={mode}", "size=64m"]
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options}
