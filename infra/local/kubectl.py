"""Runs the platform's own pinned kubectl: for `up` (registering nodes) and for the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.local.settings import PlatformSettings


def kubectl(
    kubeconfig: str | Path,
    *args: str,
    input: str | None = None,
    ok_exit_codes: tuple[int, ...] = (0,),
) -> str:
    """kubectl's output; raises RuntimeError with its stderr when it exits otherwise.

    ``ok_exit_codes`` admits answers that kubectl gives by exit code (`auth can-i`: 1 is no).
    """
    binary = PlatformSettings().k8s_bin / "kubectl"
    result = subprocess.run(
        [str(binary), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode not in ok_exit_codes:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout
