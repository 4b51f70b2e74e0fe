"""Runs the platform's processes under supervisord and talks to it over its XML-RPC socket.

supervisord (a well-kept, widely used process supervisor) gives restarts, log files, process
groups and a clean shutdown; this module only writes its config from the component list and
wraps the handful of calls the CLI needs. Processes are registered with autostart off so the
CLI can start them in waves, each after the previous one is ready.

A crash is simulated with ``kill``: SIGKILL to the component's whole process tree (Postgres'
backends are their own process groups, so a group kill would leave them holding its shared
memory), as a container runtime kills a container. supervisord sees an unexpected exit and
restarts the program itself (``autorestart=unexpected``); ``wait_restarted`` waits for the
new process, and starts it if supervisord gave up. The chaos harness and
``python -m infra.local kill NAME`` use the two.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
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

    def process_pid(self, name: str) -> int | None:
        """The PID supervisord runs ``name`` as; None while it is not running."""
        info = self._call("getProcessInfo", name)
        pid = int(info["pid"])
        return pid if info["statename"] in ("RUNNING", "STARTING") and pid > 0 else None

    def kill(self, name: str) -> int:
        """SIGKILL ``name``'s process and every descendant of it; its PID. No clean-up runs."""
        pid = self.process_pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running: nothing to kill")
        for member in process_tree(pid, _parents()):  # collected before any dies and reparents
            try:
                os.kill(member, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def wait_restarted(self, name: str, killed_pid: int, timeout: float = 120.0) -> int:
        """The new PID of ``name`` once supervisord runs it again after ``killed_pid`` died.

        supervisord restarts an unexpected exit by itself; if it stopped trying (FATAL after
        its start retries, or EXITED), it is started here.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self._call("getProcessInfo", name)
            state, pid = info["statename"], int(info["pid"])
            if state == "RUNNING" and pid not in (0, killed_pid):
                return pid
            if state in ("FATAL", "EXITED", "STOPPED") and not _alive(killed_pid):
                try:
                    self._call("startProcess", name, False)
                except xmlrpc.client.Fault:  # started meanwhile (ALREADY_STARTED)
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"supervisord did not restart {name} within {timeout:.0f}s")

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


def process_tree(root: int, parents: Mapping[int, int]) -> list[int]:
    """``root`` and all its descendants, parents before children, from a pid -> ppid map."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    tree, frontier = [], [root]
    while frontier:
        pid = frontier.pop(0)
        if pid in tree:
            continue
        tree.append(pid)
        frontier.extend(sorted(children.get(pid, ())))
    return tree


def _parents() -> dict[int, int]:
    """Every live process's parent, from /proc."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # The command may hold spaces and parentheses: the fields follow its last ')'.
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(proc.name)] = int(fields[1])
    return found


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
