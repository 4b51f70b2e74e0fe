"""The few Docker Engine API calls skaffold makes after a custom build, answered from buildah.

skaffold's local builder insists on a Docker daemon even when the build is a custom command
that never touches one: before the build it asks for the server's version, after it the
image's ID (`GET /images/{name}/json`), and then it tags the image ``<repo>:<id>``
(`POST /images/{name}/tag`) and deploys that reference. This server answers exactly those on
a unix socket (skaffold reaches it through ``DOCKER_HOST=unix://...``) from the buildah store
`make images` builds into; anything else is refused with 501 naming the call, so a skaffold
that wants more says so instead of half working. It never deletes an image (skaffold's
pruning is turned off by the session, and the store is shared with `make images`).
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from infra.images.store import BuildError, Store

API_VERSION = "1.43"
_VERSIONED = re.compile(r"^/v[0-9.]+(/.*)$")
_INSPECT = re.compile(r"^/images/(.+)/json$")
_TAG = re.compile(r"^/images/(.+)/tag$")


class Images(Protocol):
    """What the API needs of an image store: an image's inspection, and a new name for it."""

    def inspect(self, reference: str) -> dict[str, Any] | None: ...

    def tag(self, reference: str, new_name: str) -> bool: ...


class ImageStore:
    """:class:`Images` from the buildah store (`make images`'s)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def inspect(self, reference: str) -> dict[str, Any] | None:
        found = self.store.inspect(reference.removeprefix("sha256:"))
        if found is None:
            return None
        image_id = "sha256:" + str(found["FromImageID"]).removeprefix("sha256:")
        config = found.get("OCIv1", {})
        return {
            "Id": image_id,
            "RepoTags": found.get("Names") or [],
            "Created": config.get("created", ""),
            "Architecture": config.get("architecture", "amd64"),
            "Os": config.get("os", "linux"),
            "Config": config.get("config", {}),
        }

    def tag(self, reference: str, new_name: str) -> bool:
        try:
            self.store.run(["tag", reference.removeprefix("sha256:"), new_name])
        except BuildError:
            return False
        return True


def route(images: Images, method: str, target: str) -> tuple[int, Any]:
    """(status, JSON body) for one request; pure but for the store, so it is testable."""
    url = urlsplit(target)
    path = unquote(url.path)
    versioned = _VERSIONED.match(path)
    path = versioned.group(1) if versioned else path
    if path == "/_ping" and method in ("GET", "HEAD"):
        return 200, "OK"
    if path == "/version" and method == "GET":
        return 200, {
            "Version": "kubesaga-buildah",
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.24",
            "Os": "linux",
            "Arch": "amd64",
            "Components": [{"Name": "buildah (infra/skaffold/docker_api.py)", "Version": "1"}],
        }
    if (found := _INSPECT.match(path)) and method == "GET":
        image = images.inspect(found.group(1))
        if image is None:
            return 404, {"message": f"No such image: {found.group(1)}"}
        return 200, image
    if (found := _TAG.match(path)) and method == "POST":
        query = parse_qs(url.query)
        repo, tag = query.get("repo", [""])[0], query.get("tag", ["latest"])[0]
        if not repo:
            return 400, {"message": "repo is required"}
        if not images.tag(found.group(1), f"{repo}:{tag}"):
            return 404, {"message": f"No such image: {found.group(1)}"}
        return 201, None
    return 501, {"message": f"{method} {path} is not served here (infra/skaffold/docker_api.py)"}


class _Handler(BaseHTTPRequestHandler):
    images: Images  # set on the subclass the server makes

    def address_string(self) -> str:  # a unix socket has no peer address
        return "skaffold"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        status, body = route(self.images, self.command, self.path)
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = (b"" if body is None else json.dumps(body).encode()), "application/json"
        try:
            self.send_response(status)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Ostype", "linux")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up once it had the status (skaffold does, after a tag)

    do_GET = do_POST = do_HEAD = do_DELETE = _answer


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextmanager
def serving(socket_path: Path, images: Images) -> Iterator[str]:
    """Serve the API on ``socket_path`` in a thread; yields the ``DOCKER_HOST`` value."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    handler = type("Handler", (_Handler,), {"images": images})
    server = _Server(str(socket_path), handler)
    thread = threading.Thread(target=server.serve_forever, name="docker-api", daemon=True)
    thread.start()
    try:
        yield f"unix://{socket_path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        socket_path.unlink(missing_ok=True)
