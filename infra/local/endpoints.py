"""How to reach a running platform: the one contract between `make up` and its users.

`up` writes these to `.local/platform.env` (shell syntax, so `source .local/platform.env`
works); the test fixtures, the services and the operator read the same file or the same
environment variables.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, fields
from pathlib import Path

from infra.local.settings import PlatformSettings
from infra.local.state import State

# stripe-mock accepts any key of this shape; it is not a secret.
STRIPE_MOCK_API_KEY = "sk_test_kubesagalocal"


@dataclass(frozen=True)
class Endpoints:
    kubeconfig: str
    kafka_bootstrap: str
    postgres_dsn: str
    redis_url: str
    stripe_api_base: str
    stripe_api_key: str

    @classmethod
    def of(cls, state: State) -> Endpoints:
        ports, credentials = state.settings.ports, state.credentials()
        return cls(
            kubeconfig=str(state.settings.kubeconfig),
            kafka_bootstrap=f"127.0.0.1:{ports.kafka}",
            postgres_dsn=(
                f"postgresql://{credentials.postgres_user}:{credentials.postgres_password}"
                f"@127.0.0.1:{ports.postgres}/postgres"
            ),
            redis_url=f"redis://:{credentials.redis_password}@127.0.0.1:{ports.redis}/0",
            stripe_api_base=f"http://127.0.0.1:{ports.stripe_mock}",
            stripe_api_key=STRIPE_MOCK_API_KEY,
        )

    def environment(self) -> dict[str, str]:
        return {_variable(f.name): getattr(self, f.name) for f in fields(self)}

    def write(self, path: Path, *, path_prefix: list[str]) -> None:
        lines = ["# Written by `make up`: source it to use the local platform."]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in self.environment().items()]
        search_path = ":".join(path_prefix)
        lines.append(f'export PATH={shlex.quote(search_path)}:"$PATH"')
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, settings: PlatformSettings | None = None) -> Endpoints:
        """From the environment where set, else from the file `up` wrote."""
        settings = settings or PlatformSettings()
        written: dict[str, str] = {}
        if settings.endpoints_file.exists():
            for line in settings.endpoints_file.read_text().splitlines():
                if line.startswith("export ") and not line.startswith("export PATH="):
                    key, _, value = line.removeprefix("export ").partition("=")
                    written[key] = shlex.split(value)[0]
        values: dict[str, str] = {}
        for f in fields(cls):
            key = _variable(f.name)
            found = os.environ.get(key) or written.get(key)
            if not found:
                raise LookupError(
                    f"{key} is not set and {settings.endpoints_file} does not name it: "
                    "start the platform with `make up`"
                )
            values[f.name] = found
        return cls(**values)


def _variable(field_name: str) -> str:
    return "KUBECONFIG" if field_name == "kubeconfig" else f"KUBESAGA_{field_name.upper()}"
