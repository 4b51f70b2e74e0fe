"""OCI images for the node without Docker: packed with umoci, imported with containerd's ctr.

`pack` makes a one-layer image from a few files (the pause binary; a static busybox for
tests) into an OCI archive; `import_archive` loads any OCI or Docker archive into the node's
containerd, in the `k8s.io` namespace the kubelet's images live in, so pods that name it run
with `imagePullPolicy: IfNotPresent` and nothing is pulled. `python -m infra.local node
import-image ARCHIVE` is the command-line way in (the application images use it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from infra.local.node.configs import PAUSE_IMAGE, NodeFiles
from infra.local.settings import PlatformSettings, read_versions

NAMESPACE = "k8s.io"
PAUSE_SOURCE = Path(__file__).with_name("pause.c")


def pack(archive: Path, *, files: dict[str, Path], entrypoint: list[str], tag: str) -> Path:
    """An OCI archive whose only layer holds `files` (path in the image -> file here)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubesaga-oci-") as work:
        layout = f"{work}/layout"
        image = f"{layout}:{tag}"
        _run("umoci", "init", "--layout", layout)
        _run("umoci", "new", "--image", image)
        for target, source in files.items():
            _run("umoci", "insert", "--image", image, str(source), target)
        _run(
            "umoci",
            "config",
            "--image",
            image,
            *(f"--config.entrypoint={part}" for part in entrypoint),
        )
        _run("umoci", "gc", "--layout", layout)  # drop the blobs of superseded manifests
        partial = archive.with_suffix(".partial")
        _run("tar", "-C", layout, "-cf", str(partial), ".")
        partial.rename(archive)
    return archive


def pause_archive(settings: PlatformSettings) -> Path:
    """The sandbox image, packed once next to the pause binary install.sh built."""
    binary = _pause_binary(settings)
    archive = binary.parent.parent / "pause-oci.tar"
    if not archive.exists():
        tag = PAUSE_IMAGE.rsplit(":", 1)[1]
        pack(archive, files={"/pause": binary}, entrypoint=["/pause"], tag=tag)
    return archive


def import_archive(state_root: Path, archive: Path, *, base_name: str | None = None) -> str:
    """Import into the node's containerd; returns ctr's report naming each image.

    An OCI archive whose every reference the node already holds at the same digest is not
    imported again (unpacking the kubesaga image takes seconds each time): the report says so.
    """
    socket = NodeFiles.of(state_root).containerd_socket
    wanted = archive_references(archive)
    if wanted and wanted.items() <= image_digests(state_root).items():
        return "".join(f"already present {ref} ({digest})\n" for ref, digest in wanted.items())
    command = ["ctr", f"--address={socket}", f"--namespace={NAMESPACE}", "images", "import"]
    if base_name:
        command.append(f"--base-name={base_name}")
    return _run(*command, str(archive))


def archive_references(archive: Path) -> dict[str, str]:
    """reference -> manifest digest, from an OCI archive's index.json (empty for others)."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("index.json")
            index = json.load(member) if member else {}
    except (KeyError, tarfile.TarError, json.JSONDecodeError):
        return {}
    found = {}
    for manifest in index.get("manifests", []):
        ref = manifest.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if ref and "/" in ref:  # a full name; a bare tag is only the layout's own label
            found[ref] = manifest["digest"]
    return found


def image_digests(state_root: Path) -> dict[str, str]:
    """reference -> manifest digest of every image the node's containerd holds."""
    socket = NodeFiles.of(state_root).containerd_socket
    listing = _run("ctr", f"--address={socket}", f"--namespace={NAMESPACE}", "images", "ls")
    rows = [line.split() for line in listing.splitlines()[1:]]
    return {row[0]: row[2] for row in rows if len(row) >= 3}


def import_pause(state_root: Path, settings: PlatformSettings) -> None:
    if not has_image(state_root, PAUSE_IMAGE):
        import_archive(state_root, pause_archive(settings), base_name=PAUSE_IMAGE.rsplit(":", 1)[0])
    if not has_image(state_root, PAUSE_IMAGE):
        raise RuntimeError(f"importing {PAUSE_IMAGE} into the node's containerd did not name it")


def has_image(state_root: Path, name: str) -> bool:
    socket = NodeFiles.of(state_root).containerd_socket
    listing = _run("ctr", f"--address={socket}", f"--namespace={NAMESPACE}", "images", "ls", "-q")
    return name in listing.split()


def _pause_binary(settings: PlatformSettings) -> Path:
    """Where install.sh put it: keyed, like there, by the version and pause.c's digest."""
    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes()).hexdigest()[:8]
    folder = settings.cache / f"pause-{read_versions()['PAUSE_VERSION']}-{digest}"
    if not (folder / ".complete").exists():
        raise RuntimeError(f"the pause binary is not built ({folder}): run `make tools`")
    return folder / "bin" / "pause"


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout}")
    return result.stdout
