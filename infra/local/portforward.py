"""`kubectl port-forward` as a context manager: how the demo and the tests reach a Service.

It goes the way a user's does (the API server, the kubelet, containerd's stream server), so
it needs no route from the host to the cluster's Service or pod addresses.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.local.settings import PlatformSettings


@contextmanager
def port_forward(
    kubeconfig: str | Path, namespace: str, target: str, remote_port: int
) -> Iterator[int]:
    """``kubectl port-forward`` to ``target`` (svc/NAME, pod/NAME) on a free local port.

    Yields the local port once kubectl says it forwards; stops that kubectl (by its PID) after.
    """
    binary = PlatformSettings().k8s_bin / "kubectl"
    process = subprocess.Popen(
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            "-n",
            namespace,
            "port-forward",
            "--address=127.0.0.1",
            target,
            f":{remote_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> REMOTE"
        found = re.search(r"127\.0\.0\.1:(\d+) ->", first)
        if found is None:
            process.kill()
            raise RuntimeError(f"kubectl port-forward {target}: {first}{process.stdout.read()}")
        # It logs a line per connection: keep draining, or a full pipe would stall it.
        drain = threading.Thread(target=process.stdout.read, daemon=True)
        drain.start()
        yield int(found.group(1))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if drain is not None:
            drain.join(timeout=10)  # kubectl is gone: its read ends at end of file
        if process.stdout is not None:
            process.stdout.close()
