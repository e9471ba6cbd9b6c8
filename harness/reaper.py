"""Find and remove what a dead run left behind (the equivalent of testcontainers' Ryuk).

Every process aftershock starts carries two environment variables, inherited by its children:
``AFTERSHOCK_RUN_ID`` and ``AFTERSHOCK_OWNER`` (the harness's pid and start time). A process
whose owner is no longer alive is a leftover; :func:`sweep` kills it. Reading ``/proc`` rather
than a pid file means even a harness killed with SIGKILL before it wrote anything is covered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

RUN_ID_VAR = "AFTERSHOCK_RUN_ID"
OWNER_VAR = "AFTERSHOCK_OWNER"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses; fields resume after the last ')'
    return stat[stat.rfind(")") + 2 :].split()[19]


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid)}"


def owner_alive(token: str) -> bool:
    """Whether the harness that started a process still runs. A zombie does not: right after a
    SIGKILL the harness is a zombie until its parent reaps it, and its leftovers are orphans."""
    pid_text, _, start = token.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    return _start_time(pid) == start and _alive(pid)


def labelled_env(run_id: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[RUN_ID_VAR] = run_id
    env[OWNER_VAR] = owner_token()
    return env


@dataclass(frozen=True)
class Labelled:
    pid: int
    run_id: str
    owner: str
    cmdline: str


def labelled_processes() -> list[Labelled]:
    found: list[Labelled] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue
        if RUN_ID_VAR.encode() not in raw:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = ""
        if RUN_ID_VAR in env:
            found.append(Labelled(int(entry.name), env[RUN_ID_VAR], env.get(OWNER_VAR, ""), cmd))
    return found


def sweep(*, run_id: str | None = None, include_live: bool = False, grace: float = 3.0) -> list[Labelled]:
    """Kill labelled processes whose owner is dead (or those of ``run_id``). Returns what was killed."""
    victims = [
        p
        for p in labelled_processes()
        if (run_id is None or p.run_id == run_id) and (include_live or not owner_alive(p.owner))
    ]
    for sig in (signal.SIGCONT, signal.SIGTERM):  # a paused process cannot handle SIGTERM
        for p in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p.pid) for p in victims):
        time.sleep(0.05)
    for p in victims:
        if _alive(p.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, signal.SIGKILL)
    return victims


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"
