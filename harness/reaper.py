"""Find and remove what a dead run left behind (the equivalent of testcontainers' Ryuk).

Every process aftershock starts carries two environment variables, inherited by its children:
``AFTERSHOCK_RUN_ID`` and ``AFTERSHOCK_OWNER`` (the harness's pid and start time). A process
whose owner is no longer alive is a leftover; :func:`sweep` kills it. Reading ``/proc`` rather
than a pid file means even a harness killed with SIGKILL before it wrote anything is covered.

Services' scratch directories (``$TMPDIR/aftershock-<run>-<service>-*``, a PostgreSQL data
directory is 39 MB) carry the same two facts in a marker file, :data:`OWNER_FILE`, and are
removed with the processes once their owner is dead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN_ID_VAR = "AFTERSHOCK_RUN_ID"
OWNER_VAR = "AFTERSHOCK_OWNER"
WORKDIR_PREFIX = "aftershock-"
OWNER_FILE = ".aftershock-owner"
# Directories without a marker (made before markers existed, or caught between mkdtemp and the
# marker's write) are recognised by their run id and judged by the run's processes and age.
_UNMARKED = re.compile(r"^aftershock-(\d{8}-\d{6}-[0-9a-f]{4}|pytest-[0-9a-f]{6})-")
UNMARKED_GRACE = 60.0


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
    """Kill labelled processes of dead runs, then remove those runs' scratch directories.

    ``run_id`` narrows it to one run; ``include_live`` also takes runs whose harness still runs.
    Returns the processes killed (directories that cannot be removed are left for
    ``aftershock cleanup``, which reports them).
    """
    victims = kill_processes(doomed_processes(run_id=run_id, include_live=include_live), grace=grace)
    remove_workdirs(doomed_workdirs(run_id=run_id, include_live=include_live))
    return victims


def doomed_processes(*, run_id: str | None = None, include_live: bool = False) -> list[Labelled]:
    """Labelled processes of dead runs (or of ``run_id``; also of live runs with ``include_live``)."""
    return [
        p
        for p in labelled_processes()
        if (run_id is None or p.run_id == run_id) and (include_live or not owner_alive(p.owner))
    ]


def kill_processes(victims: list[Labelled], grace: float = 3.0) -> list[Labelled]:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns ``victims``."""
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


# -- scratch directories -------------------------------------------------------------------
def make_workdir(run_id: str, service: str) -> Path:
    """A private scratch directory for one service of a run, marked with the run and its owner."""
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{run_id}-{service}-"))
    (path / OWNER_FILE).write_text(f"{run_id}\n{owner_token()}\n")
    return path


@dataclass(frozen=True)
class Workdir:
    path: Path
    run_id: str
    owner: str  # "" when the directory has no marker


def workdirs(root: Path | None = None) -> list[Workdir]:
    """Every aftershock scratch directory under ``root`` (the system temp directory)."""
    found: list[Workdir] = []
    base = Path(tempfile.gettempdir()) if root is None else root
    try:
        entries = list(base.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.startswith(WORKDIR_PREFIX) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            run_id, owner = (entry / OWNER_FILE).read_text().split("\n")[:2]
        except (OSError, ValueError):
            unmarked = _UNMARKED.match(entry.name)
            if unmarked is None:
                continue
            run_id, owner = unmarked.group(1), ""
        found.append(Workdir(entry, run_id, owner))
    return found


def doomed_workdirs(
    *, run_id: str | None = None, include_live: bool = False, root: Path | None = None
) -> list[Workdir]:
    """Scratch directories of dead runs. A directory without a marker counts as dead when no
    process of its run is alive and it is older than :data:`UNMARKED_GRACE` seconds."""
    mine = os.geteuid()
    live_runs = {p.run_id for p in labelled_processes() if owner_alive(p.owner)}
    doomed: list[Workdir] = []
    for w in workdirs(root):
        if run_id is not None and w.run_id != run_id:
            continue
        try:
            st = w.path.stat()
        except OSError:
            continue
        if mine != 0 and st.st_uid != mine:  # another user's: not ours to judge, nor to remove
            continue
        if include_live:
            doomed.append(w)
        elif w.owner:
            if not owner_alive(w.owner):
                doomed.append(w)
        elif w.run_id not in live_runs and time.time() - st.st_mtime > UNMARKED_GRACE:
            doomed.append(w)
    return doomed


@dataclass
class Removal:
    removed: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def remove_workdirs(doomed: list[Workdir]) -> Removal:
    """Remove every directory; failures are collected as one line each, never raised."""
    result = Removal()
    for w in doomed:
        problems = _rmtree(w.path)
        if problems:
            result.errors.append(f"directory {w.path} (run {w.run_id}): {problems[0]}")
        else:
            result.removed.append(w.path)
    return result


def _rmtree(path: Path) -> list[str]:
    """``shutil.rmtree`` that collects failures (a file vanishing meanwhile is not one)."""
    problems: list[str] = []

    def note(_fn: object, where: str, info: tuple[type[BaseException], BaseException, object]) -> None:
        exc = info[1]
        if not isinstance(exc, FileNotFoundError):
            problems.append(f"{where}: {exc.strerror if isinstance(exc, OSError) else exc}")

    shutil.rmtree(path, onerror=note)  # onexc is 3.12+; this project supports 3.11
    return problems


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"
