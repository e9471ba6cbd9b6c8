"""Memory pressure inside a container's memory cgroup, until the kernel OOM-kills something there.

Run as its own process (``python -I balloon.py CGROUP_DIR SECONDS``, no harness import): it moves
itself into the cgroup (only memory it touches from then on is charged there), makes itself
unkillable by the OOM killer (``oom_score_adj -1000``; the harness runs as root on the Docker
host), then touches memory 1 MiB at a time until the cgroup's ``oom_kill`` count rises, so the
victim is the kernel's choice among the service's own processes (the largest), as in a real OOM.
It frees everything and exits 0 once a kill is counted, 1 if none came within SECONDS.
"""

from __future__ import annotations

import os
import sys
import time


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


def main(cgroup: str, seconds: float) -> int:
    before = oom_kills(cgroup)
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("-1000")
    held: list[bytearray] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if oom_kills(cgroup) > before:
            return 0
        chunk = bytearray(1 << 20)
        for i in range(0, len(chunk), 4096):  # touch every page: charged now, not on first use
            chunk[i] = 1
        held.append(chunk)
    return 0 if oom_kills(cgroup) > before else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
