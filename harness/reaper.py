"""Find and remove what a dead run left behind (the equivalent of testcontainers' Ryuk).

Every process aftershock starts carries two environment variables, inherited by its children:
``AFTERSHOCK_RUN_ID`` and ``AFTERSHOCK_OWNER`` (the harness's pid and start time). A process
whose owner is no longer alive is a leftover; :func:`sweep` kills it. Reading ``/proc`` rather
than a pid file means even a harness killed with SIGKILL before it wrote anything is covered.

Services' scratch directories (``$TMPDIR/aftershock-<run>-<service>-*``, a PostgreSQL data
directory is 39 MB) carry the same two facts in a marker file, :data:`OWNER_FILE`, and are
removed with the processes once their owner is dead.

Two kinds of directory outlive a run on purpose or by accident, in :data:`SHARED_TMP`
(``/var/tmp``), and are swept by the unscoped sweep only (they belong to no one run):

* ``aftershock-base-*``: a debootstrap build of the base image, marked with its builder's
  :data:`OWNER_FILE`; removed (its mounts first) once the builder is gone.
* ``aftershock-pginstall-<stamp>``: the orders database's binaries copied where a dropped-privilege
  PostgreSQL can read them (``targets/orders/db.py``), a cache shared by every run of that install
  (named by its mtime, the install's path in :data:`SOURCE_FILE`). Each PostgreSQL using one holds
  a shared ``flock`` on its :data:`IN_USE_FILE` for its whole life. The sweep removes a copy whose
  install is gone or changed (a deleted clone's venv) only while it holds that lock exclusively
  (nobody uses it), and a half-made copy (``.tmp<pid>``) once its maker is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
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
SHARED_TMP = Path("/var/tmp")
BUILD_PREFIX = "aftershock-base-"  # a debootstrap build's scratch directory (harness.docker.base)
BUILD_OWNER = "debootstrap"  # the "run id" in a build directory's marker
PGINSTALL_PREFIX = "aftershock-pginstall-"  # the orders database's binaries (targets/orders/db.py)
IN_USE_FILE = ".in-use"  # flock'ed shared by every PostgreSQL running from a pginstall copy
SOURCE_FILE = ".source"  # the install a pginstall copy was made of
# A base build directory from before markers: a build took at most ~50 min (debootstrap, tar, import).
UNMARKED_BUILD_GRACE = 3600.0


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
    from harness.net import prune_reservations

    victims = kill_processes(doomed_processes(run_id=run_id, include_live=include_live), grace=grace)
    remove_workdirs(doomed_workdirs(run_id=run_id, include_live=include_live))
    prune_reservations()  # port reservations whose runs are gone (their locks went with them)
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
def mark_owner(path: Path, run_id: str) -> None:
    """Write ``path``'s marker: the run (or build) and its owner, for the sweep to judge."""
    (path / OWNER_FILE).write_text(f"{run_id}\n{owner_token()}\n")


def make_workdir(run_id: str, service: str) -> Path:
    """A private scratch directory for one service of a run, marked with the run and its owner."""
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{run_id}-{service}-"))
    mark_owner(path, run_id)
    return path


@dataclass(frozen=True)
class Workdir:
    path: Path
    run_id: str  # for a shared directory, what made it (BUILD_OWNER, "pginstall")
    owner: str  # "" when the directory has no marker
    kind: str = "service"  # "service", "build" or "pginstall": how it is removed


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
    *,
    run_id: str | None = None,
    include_live: bool = False,
    root: Path | None = None,
    shared_root: Path | None = None,
) -> list[Workdir]:
    """Scratch directories of dead runs. A directory without a marker counts as dead when no
    process of its run is alive and it is older than :data:`UNMARKED_GRACE` seconds.

    Without ``run_id``, also the dead shared directories of :data:`SHARED_TMP` (module docstring);
    with another ``root`` (a test's), only those under ``shared_root``, if given."""
    doomed = _doomed_run_dirs(run_id=run_id, include_live=include_live, root=root)
    if run_id is None and (root is None or shared_root is not None):
        doomed += doomed_shared_dirs(shared_root)
    return doomed


def _doomed_run_dirs(*, run_id: str | None, include_live: bool, root: Path | None) -> list[Workdir]:
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


def doomed_shared_dirs(root: Path | None = None) -> list[Workdir]:
    """Dead base-image builds and unused pginstall copies under ``root`` (:data:`SHARED_TMP`)."""
    base = SHARED_TMP if root is None else root
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    mine = os.geteuid()
    doomed: list[Workdir] = []
    for entry in entries:
        try:
            st = entry.lstat()
        except OSError:
            continue
        if not entry.is_dir() or entry.is_symlink() or (mine != 0 and st.st_uid != mine):
            continue
        if entry.name.startswith(BUILD_PREFIX):
            owner = _marker_owner(entry)
            dead = not owner_alive(owner) if owner else _unreferenced(entry, st, UNMARKED_BUILD_GRACE)
            if dead:
                doomed.append(Workdir(entry, BUILD_OWNER, owner, "build"))
        elif entry.name.startswith(PGINSTALL_PREFIX):
            maker = re.search(r"\.tmp(\d+)$", entry.name)
            if maker is not None:  # half-made: its maker died mid-copy (or is copying now)
                if not _alive(int(maker.group(1))):
                    doomed.append(Workdir(entry, "pginstall", "", "pginstall"))
            elif _source_gone(entry) and not _locked(entry / IN_USE_FILE):
                doomed.append(Workdir(entry, "pginstall", "", "pginstall"))
    return doomed


def _source_gone(copy: Path) -> bool:
    """Whether the install a pginstall copy was made of is gone or changed (a venv deleted or
    reinstalled): the next run makes a new copy, this one is never used again. A copy that does
    not name its source (made before :data:`SOURCE_FILE`) counts as gone."""
    try:
        source = Path((copy / SOURCE_FILE).read_text().strip())
        return f"{PGINSTALL_PREFIX}{source.stat().st_mtime_ns}" != copy.name
    except OSError:
        return True


def _marker_owner(path: Path) -> str:
    try:
        return (path / OWNER_FILE).read_text().split("\n")[1]
    except (OSError, IndexError):
        return ""


def _unreferenced(path: Path, st: os.stat_result, grace: float) -> bool:
    """No process works in, runs from, or has a file open under ``path``, and it is older than
    ``grace`` seconds (a directory from before markers: its builder cannot be asked)."""
    if time.time() - st.st_mtime < grace:
        return False
    prefix = str(path) + "/"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        links = [proc / "cwd", proc / "root", proc / "exe"]
        with contextlib.suppress(OSError):
            links += list((proc / "fd").iterdir())
        for link in links:
            with contextlib.suppress(OSError):
                if (os.readlink(link) + "/").startswith(prefix):
                    return False
    return True


def _locked(lock: Path) -> bool:
    """Whether a PostgreSQL runs from the copy ``lock`` guards: someone holds the lock, or (for
    db.py versions from before the lock) a process runs from or has a file open in the copy."""
    if not _unreferenced(lock.parent, lock.parent.stat(), 0.0):
        return True  # a PostgreSQL of an older db.py runs from it without taking the lock
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock
    return False


def unmount_under(path: Path) -> list[str]:
    """Unmount whatever is mounted under ``path`` (deepest first): debootstrap mounts ``/proc``
    and ``/sys`` in its root, and a build killed half-way leaves them. Returns failures."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return []
    problems: list[str] = []
    for point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        done = subprocess.run(["umount", "-l", point], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            problems.append(f"umount {point}: {done.stderr.strip() or done.returncode}")
    return problems


def remove_shared_dir(w: Workdir) -> list[str]:
    """Remove a dead build directory (its mounts first) or an unused pginstall copy (renamed
    under its exclusive lock first, so a PostgreSQL starting now makes a fresh copy instead)."""
    if w.kind == "build":
        return unmount_under(w.path) or _rmtree(w.path)
    lock = w.path / IN_USE_FILE
    if not lock.exists():
        return _rmtree(w.path)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError as exc:
        return [f"{lock}: {exc.strerror}"]
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return []  # taken into use since it was judged: not dead after all
        graveyard = w.path.with_name(f"{w.path.name}.removing{os.getpid()}")
        try:
            w.path.rename(graveyard)
        except OSError as exc:
            return [f"{w.path}: {exc.strerror}"]
    finally:
        os.close(fd)
    return _rmtree(graveyard)


@dataclass
class Removal:
    removed: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def remove_workdirs(doomed: list[Workdir]) -> Removal:
    """Remove every directory; failures are collected as one line each, never raised."""
    result = Removal()
    for w in doomed:
        problems = _rmtree(w.path) if w.kind == "service" else remove_shared_dir(w)
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
