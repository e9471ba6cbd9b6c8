"""Memory pressure inside a container's memory cgroup, until the kernel OOM-kills something there.

Run as its own process (``python -I balloon.py CGROUP_DIR SECONDS``, no harness import). The memory
is touched by ``dd`` (``if=/dev/zero``, one buffer) started inside the cgroup: the kernel charges
its buffer page by page until the OOM. The buffer is sized to overshoot the limit by only
:data:`OVERSHOOT` past the cgroup's anonymous memory (what no reclaim can free): the first OOM is
certain, and once the victim's memory is freed dd's buffer fits, so dd cannot go on to kill a
second process of a pool however late this process looks (a buffer the size of the limit filled
what the victim freed and OOM-killed the pool's next worker on a busy CPU). This process stays
outside and watches the cgroup's ``oom_kill`` count; once it rises, it stops dd if still running
and tells whether the kernel's SIGKILL had reached dd first. Without ``dd`` it joins the cgroup
itself and touches memory 256 KiB at a time (the old way: see below why it is worse).

The victim must be one of the service's processes, never the balloon, and among them the kernel's
own choice (the largest). The kernel ranks a task by its whole RSS plus ``oom_score_adj`` x (limit
in pages // 1000). A Python balloon's RSS starts at ~15 MB of interpreter (none of it charged to
the cgroup): at a small limit that outweighs a small service raised by +1000 (a few thousand
pages), and, once the service is killed and skipped, the container's init (docker-init: ~150
pages + the same bonus) too, so the balloon was killed second. ``dd``'s own RSS is under 1 MB.
The balloon also tries to lower its own ``oom_score_adj`` to -999 (CAP_SYS_RESOURCE; a harness
in a container often lacks it, then the value read back is reported), and every other process of
the cgroup gets ``oom_score_adj + 1000`` (capped at 1000) for the duration: the same for all of
them, so their order is the kernel's. The survivors get their own values back before the balloon
exits (and from the fault, should the balloon be killed). A service smaller than dd still loses
to it: the fault sees that (one kill counted, no service process gone) and says so
(:func:`harness.faults.resources.pressure_outcome`).
It prints one line of what it set up (pids and the values read back), and exits 0 once a kill is
counted and the balloon was not killed, :data:`KILLED` if it was (the fault decides whether a
service process went first), 3 if no kill came within SECONDS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

BALLOON_ADJ = -999  # lowest killable value: -1000 would make the balloon unkillable
STEP = 1 << 18  # bytes touched between two looks at the kill count: the overshoot past a kill
OVERSHOOT = 1 << 18  # dd's buffer past (limit - anonymous memory): smaller than any victim's memory
KILLED = 9  # exit status: the memory-filling child was SIGKILLed (by the OOM killer) after a kill


def oom_kills(cgroup: str) -> int:
    """The cgroup's ``oom_kill`` count (cgroup v1 ``memory.oom_control``, v2 ``memory.events``)."""
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(os.path.join(cgroup, name)) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except FileNotFoundError:
            continue
    raise RuntimeError(f"{cgroup} counts no oom_kill (a memory cgroup on a kernel >= 4.13 is needed)")


def _adj(pid: str, value: int | None = None) -> int | None:
    """Read (or write, then read back) a process's ``oom_score_adj``; None when the process is gone."""
    try:
        path = f"/proc/{pid}/oom_score_adj"
        if value is not None:
            with open(path, "w") as fh:
                fh.write(str(value))
        with open(path) as fh:
            return int(fh.read())
    except (ProcessLookupError, FileNotFoundError):
        return None


def main(cgroup: str, seconds: float) -> int:
    before = oom_kills(cgroup)
    me = str(os.getpid())
    dd = shutil.which("dd")
    try:
        own = _adj(me, BALLOON_ADJ)
    except PermissionError:  # no CAP_SYS_RESOURCE: the raise of the others must do
        own = _adj(me)
    with open(os.path.join(cgroup, "cgroup.procs")) as fh:
        others = [pid for pid in fh.read().split() if pid != me]
    saved = {pid: adj for pid in others if (adj := _adj(pid)) is not None}
    try:
        raised = {pid: _adj(pid, min(1000, adj + 1000)) for pid, adj in saved.items()}
        print(f"balloon {me} oom_score_adj={own} memory by {dd or 'itself'}; raised {raised}", flush=True)
        if dd:
            return _fill(cgroup, dd, before, seconds)
        _join(cgroup)
        return _inflate(cgroup, before, seconds)
    finally:
        for pid, adj in saved.items():
            _adj(pid, adj)


def _join(cgroup: str) -> None:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))


def _limit(cgroup: str) -> int:
    for name in ("memory.limit_in_bytes", "memory.max"):
        try:
            with open(os.path.join(cgroup, name)) as fh:
                return int(fh.read())
        except (FileNotFoundError, ValueError):
            continue
    raise RuntimeError(f"{cgroup} has no memory limit")


def _anonymous(cgroup: str) -> int | None:
    """Bytes of anonymous memory charged to the cgroup (v1 ``total_rss``, v2 ``anon``): what
    reclaim cannot free without swap; None if the cgroup does not say."""
    try:
        with open(os.path.join(cgroup, "memory.stat")) as fh:
            stat = dict(line.split() for line in fh if line.count(" ") == 1)
    except FileNotFoundError:
        return None
    for key in ("total_rss", "anon"):
        if key in stat:
            return int(stat[key])
    return None


def _buffer(cgroup: str) -> int:
    """dd's buffer: the limit less the anonymous memory, plus :data:`OVERSHOOT` (the whole limit
    when the anonymous memory is not known)."""
    limit = _limit(cgroup)
    anon = _anonymous(cgroup)
    return limit if anon is None else max(OVERSHOOT, limit - anon + OVERSHOOT)


def _fill(cgroup: str, dd: str, before: int, seconds: float) -> int:
    """``dd`` reads one buffer (:func:`_buffer`) from /dev/zero, in the cgroup: the kernel charges
    it page by page until the OOM. This process stays outside and watches the kill count. A dd
    that fits (the service freed memory meanwhile) is started again, sized anew."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        argv = [dd, "if=/dev/zero", "of=/dev/null", f"bs={_buffer(cgroup)}", "count=1", "status=none"]
        child = subprocess.Popen(argv, preexec_fn=lambda: _join(cgroup))
        while child.poll() is None and oom_kills(cgroup) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        if oom_kills(cgroup) > before:
            return _stopped_or_killed(child)
        child.kill()
        child.wait()
    return 3


def _stopped_or_killed(child: subprocess.Popen[bytes]) -> int:
    """Once a kill is counted: stop dd (it would fill what the victim frees and OOM again) and see
    whether the kernel's SIGKILL came first (KILLED: the fault decides from the count and the
    deaths whether a service process went before it) or not (0: the victim was another process)."""
    if child.returncode is not None:  # reaped already by the watch's poll
        return 0 if child.returncode == 0 else KILLED
    with contextlib.suppress(ProcessLookupError):  # exited already: waitpid says how
        os.kill(child.pid, signal.SIGSTOP)
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        os.kill(child.pid, signal.SIGKILL)  # ours, and known to be
        os.waitpid(child.pid, 0)
        child.returncode = -signal.SIGKILL
        return 0
    child.returncode = os.waitstatus_to_exitcode(status)
    return 0 if child.returncode == 0 else KILLED


def _inflate(cgroup: str, before: int, seconds: float) -> int:
    held: list[bytearray] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if oom_kills(cgroup) > before:
            return 0
        chunk = bytearray(STEP)
        for i in range(0, len(chunk), 4096):  # touch every page: charged now, not on first use
            chunk[i] = 1
        held.append(chunk)
    return 0 if oom_kills(cgroup) > before else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
