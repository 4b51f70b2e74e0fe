"""Runs the platform's processes under supervisord and talks to it over its XML-RPC socket.

supervisord (a well-kept, widely used process supervisor) gives restarts, log files, process
groups and a clean shutdown; this module only writes its config from the component list and
wraps the handful of calls the CLI needs. Processes are registered with autostart off so the
CLI can start them in waves, each after the previous one is ready.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from infra.local.components import Component
from infra.local.state import State

# Every process supervisord starts carries this variable, naming its state folder, and passes
# it to its children: `down` finds leftovers of one instance by it, never by a shared path.
INSTANCE_VARIABLE = "KUBESAGA_PLATFORM_STATE"


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # RUNNING, STARTING, STOPPED, FATAL, BACKOFF, EXITED ...
    description: str


class Supervisor:
    def __init__(self, state: State) -> None:
        self.state = state
        self.folder = state.root / "supervisor"
        self.config = self.folder / "supervisord.conf"
        self.socket = self.folder / "supervisor.sock"
        self.pidfile = self.folder / "supervisord.pid"

    def render(self, components: list[Component]) -> str:
        logs = self.state.logs
        sections = [
            "; Written by infra/local/supervisor.py on every `make up`; edit the component list.",
            f"[unix_http_server]\nfile={self.socket}\nchmod=0700",
            "[supervisord]\n"
            f"logfile={self.folder / 'supervisord.log'}\n"
            f"pidfile={self.pidfile}\n"
            f"childlogdir={logs}\n"
            f"directory={self.state.root}\n"
            "identifier=kubesaga\nlogfile_maxbytes=10MB\nminfds=16384",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            f"[supervisorctl]\nserverurl=unix://{self.socket}",
        ]
        for component in components:
            lines = [
                f"[program:{component.name}]",
                # supervisord expands %(...)s in commands; a literal % must be doubled.
                "command=" + shlex.join(component.argv).replace("%", "%%"),
                "autostart=false",
                "autorestart=unexpected",
                "startsecs=2",
                "startretries=3",
                f"stopwaitsecs={component.stop_seconds}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={logs / component.name}.log",
                "stdout_logfile_maxbytes=50MB",
                "stdout_logfile_backups=2",
            ]
            if component.os_user:
                lines.append(f"user={component.os_user}")
            lines.append(f'environment={INSTANCE_VARIABLE}="{self.state.root}"')
            sections.append("\n".join(lines))
        return "\n\n".join(sections) + "\n"

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write_config(self, components: list[Component]) -> bool:
        """Write the config; True when it differs from the one supervisord runs with."""
        self.folder.mkdir(parents=True, exist_ok=True)
        rendered = self.render(components)
        changed = not self.config.exists() or self.config.read_text() != rendered
        self.config.write_text(rendered)
        return changed

    def start_daemon(self) -> None:
        supervisord = Path(sys.executable).with_name("supervisord")
        subprocess.run([str(supervisord), "-c", str(self.config)], check=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.socket.exists():
                try:
                    if self._call("getState")["statename"] == "RUNNING":
                        return
                except (OSError, xmlrpc.client.Fault):
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"supervisord did not start; see {self.folder / 'supervisord.log'}")

    def start(self, names: list[str]) -> None:
        for name in names:
            info = self._call("getProcessInfo", name)
            if info["statename"] not in ("RUNNING", "STARTING"):
                self._call("startProcess", name, False)

    def stop(self, name: str) -> None:
        self._call("stopProcess", name, True)

    def processes(self) -> list[ProcessInfo]:
        infos = cast(list[dict[str, Any]], self._call("getAllProcessInfo"))
        return [ProcessInfo(i["name"], i["statename"], i["description"]) for i in infos]

    def shutdown(self, timeout: float = 90.0) -> None:
        """Stop every process (each with its stop timeout), then supervisord itself."""
        pid = self.pid()
        if pid is None or not _alive(pid):
            return
        try:
            self._call("shutdown")
        except (OSError, xmlrpc.client.Fault):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)

    def _call(self, method: str, *args: Any) -> Any:
        """One supervisor.* XML-RPC call on a connection of its own, closed afterwards."""
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        with xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport) as proxy:
            return getattr(proxy.supervisor, method)(*args)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def leftover_processes(state_root: Path) -> list[tuple[int, str]]:
    """Live processes started for the instance at `state_root`: what `down` must not leave."""
    marker = f"{INSTANCE_VARIABLE}={state_root}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environment = (proc / "environ").read_bytes().split(b"\0")
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's process
            continue
        if marker in environment and _alive(int(proc.name)):
            command = " ".join(a.decode(errors="replace") for a in argv if a)
            found.append((int(proc.name), command[:160]))
    return found
