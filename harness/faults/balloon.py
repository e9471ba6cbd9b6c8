"""Memory pressure inside a container's memory cgroup, until the kernel OOM-kills something there.

Run as its own process (``python -I balloon.py CGROUP_DIR SECONDS``, no harness import): it moves
itself into the cgroup (only memory it touches from then on is charged there), then touches memory
256 KiB at a time until the cgroup's ``oom_kill`` count rises.

The victim must be one of the service's processes, never the balloon, and among them the kernel's
own choice (the largest). The kernel ranks a task by its whole RSS (the interpreter's ~15 MB
included, though none of it is charged to the cgroup) plus ``oom_score_adj`` x (limit in pages //
1000): with a small limit, a service raised by +1000 gains only a few thousand pages, which a
balloon that grew into reclaimed page cache can outweigh. So the balloon first lowers its own
``oom_score_adj`` to -999 (still killable when nothing else is left; it needs CAP_SYS_RESOURCE,
which a harness in a container may lack, so a refusal is reported, not fatal), and every other
process of the cgroup gets ``oom_score_adj + 1000`` (capped at 1000) for the duration: the same for
all of them, so their order is the kernel's. The survivors get their own values back before the
balloon exits. The kernel may still pick the balloon (when the service has already been killed,
or when the balloon could not lower itself): the fault decides from the kill count and which
processes died (:func:`harness.faults.resources.pressure_outcome`).
It prints one line of what it set up (pids and the values read back), frees everything and exits
0 once a kill is counted, 3 if none came within SECONDS.
"""

from __future__ import annotations

import os
import sys
import time

BALLOON_ADJ = -999  # lowest killable value: -1000 would make the balloon unkillable
STEP = 1 << 18  # bytes touched between two looks at the kill count: the overshoot past a kill


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
    try:
        own = _adj(me, BALLOON_ADJ)
    except PermissionError:  # no CAP_SYS_RESOURCE: the raise of the others must do
        own = _adj(me)
    with open(os.path.join(cgroup, "cgroup.procs")) as fh:
        others = [pid for pid in fh.read().split() if pid != me]
    saved = {pid: adj for pid in others if (adj := _adj(pid)) is not None}
    try:
        raised = {pid: _adj(pid, min(1000, adj + 1000)) for pid, adj in saved.items()}
        print(f"balloon {me} oom_score_adj={own}; raised {raised}", flush=True)
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
            fh.write(me)
        return _inflate(cgroup, before, seconds)
    finally:
        for pid, adj in saved.items():
            _adj(pid, adj)


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
