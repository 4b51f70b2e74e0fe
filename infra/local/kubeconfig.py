"""Kubeconfig files for the local control plane, one per client identity.

Certificates are embedded, so a kubeconfig stays valid when copied elsewhere. The admin one is
the file users export as KUBECONFIG. JSON is valid YAML, and every Kubernetes client reads it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from infra.local.pki import ClientIdentity, Pki

CLUSTER = "kubesaga-local"


def write_kubeconfig(path: Path, *, pki: Pki, identity: ClientIdentity, server: str) -> Path:
    def embed(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    context = f"{identity.file_stem}@{CLUSTER}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER,
                "cluster": {"server": server, "certificate-authority-data": embed(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": identity.user,
                "user": {
                    "client-certificate-data": embed(pki.client_cert(identity)),
                    "client-key-data": embed(pki.client_key(identity)),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER, "user": identity.user}}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
