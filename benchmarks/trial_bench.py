"""Dead time per trial: where a 30 s process-backend rehearsal spends the time that is not load.

    python benchmarks/trial_bench.py [--reps 3] [--scenario scenarios/db-latency.yaml] [--name trial]
                                     [--base CHECKOUT]

Runs ``aftershock run SCENARIO --quiet`` (``python -m harness.cli``) ``--reps`` times and splits
each run into phases by its journal's event stamps (``time.monotonic_ns()``, the run clock, which
the benchmark reads too): interpreter start (launch to the orchestrator's t0: imports and
validation), run start (sweep, journal), Toxiproxy and services up, Locust start to "all users
running", the load itself (the scenario's duration: not overhead), the stop (requests in flight
land, Locust exits), drain and audit, teardown, and after the journal's last event (analysis,
results.json, reports, the index, interpreter exit).

Each phase gets two figures: wall time, and CPU time of the whole process tree (the harness and
every descendant: services, PostgreSQL, Toxiproxy, Locust), sampled from ``/proc`` every 20 ms
and read at the phase's bounds. On a shared machine the wall figure swings with the other work;
the CPU figure far less. The total CPU is also taken from ``getrusage(RUSAGE_CHILDREN)``.
With ``--base`` (another checkout of aftershock, e.g. ``git worktree add /tmp/base main``) the
same scenario is also run with that checkout's harness, the two alternated (base, this, base,
...), and both tables printed: a before/after comparison under the same machine load. Writes
``benchmarks/results/<name>.json`` and prints the per-phase table. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TICK = os.sysconf("SC_CLK_TCK")

#: (phase, journal event or predicate that opens it); a phase ends where the next one starts.
PHASES = [
    "interpreter start",
    "run start",
    "toxiproxy + services up",
    "locust start",
    "load",
    "stop (in flight lands, locust exits)",
    "drain + audit",
    "teardown",
    "analysis + reports + index + exit",
]


class TreeCpu:
    """CPU seconds (user + system, reaped children included) of a process and its descendants,
    sampled every ``interval`` seconds with the run clock's stamp."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            cpu = self.read()
            if cpu is not None:
                self.samples.append((time.monotonic_ns(), cpu))
            self._stop.wait(self.interval)

    def read(self) -> float | None:
        stats: dict[int, tuple[int, float]] = {}  # pid -> (ppid, cpu seconds)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue
            fields = raw[raw.rindex(b")") + 2 :].split()
            # after the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14), 0-based from state
            stats[int(entry)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / TICK)
        if self.pid not in stats:
            return None
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0.0, [self.pid]
        while todo:
            pid = todo.pop()
            total += stats[pid][1]
            todo += children.get(pid, [])
        return total

    def at(self, t_ns: int) -> float:
        """The tree's CPU seconds at ``t_ns`` (the last sample at or before it)."""
        before = [cpu for stamp, cpu in self.samples if stamp <= t_ns]
        return before[-1] if before else 0.0


def phase_bounds(journal: list[dict[str, Any]], launch_ns: int, exit_ns: int, t0_ns: int) -> list[int]:
    """The instants that open each phase of :data:`PHASES`, then the process's exit."""

    def first(pred: Any) -> int:
        return int(next(e["t_ns"] for e in journal if pred(e)))

    def event(name: str) -> Any:
        return lambda e: e["event"] == name

    def phase(words: str) -> Any:
        return lambda e: e["event"] == "phase" and words in e.get("what", "")

    load_started = first(event("load_started"))
    return [
        launch_ns,
        t0_ns,
        first(event("trial_started")),
        first(phase("starting the load generator")),
        load_started,
        first(phase("stopping the load")),
        first(lambda e: (e["event"] == "phase" and "draining" in e.get("what", "")) or e["event"] == "audit"),
        first(event("audit")),
        first(event("run_finished")),
        exit_ns,
    ]


def one_run(scenario: Path, out: Path, root: Path = ROOT) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(root))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launch_ns = time.monotonic_ns()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with TreeCpu(proc.pid) as tree:
        _, err = proc.communicate(timeout=300)
        exit_ns = time.monotonic_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"aftershock run exited {proc.returncode}: {err.decode()[-2000:]}")
    run_dir = sorted(p for p in out.iterdir() if p.is_dir())[-1]
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    t0_ns = journal[0]["t0_ns"]
    bounds = phase_bounds(journal, launch_ns, exit_ns, t0_ns)
    final_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    cpu_marks = [tree.at(b) for b in bounds[:-1]] + [max(final_cpu, tree.at(exit_ns))]
    phases = {
        name: {"wall_s": (bounds[i + 1] - bounds[i]) / 1e9, "cpu_s": cpu_marks[i + 1] - cpu_marks[i]}
        for i, name in enumerate(PHASES)
    }
    wall = (exit_ns - launch_ns) / 1e9
    load_s = phases["load"]["wall_s"]
    return {
        "wall_s": wall,
        "cpu_s": final_cpu,
        "load_s": load_s,
        "overhead_wall_s": wall - load_s,
        "overhead_cpu_s": final_cpu - phases["load"]["cpu_s"],
        "phases": phases,
        "load_average": os.getloadavg()[0],
        "exit": proc.returncode,
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| phase | wall (median, min - max) | CPU, whole process tree (median, min - max) |",
        "|---|---:|---:|",
    ]

    def cell(values: list[float]) -> str:
        return f"{median(values):.2f} s ({min(values):.2f} - {max(values):.2f})"

    for name in PHASES:
        walls = [r["phases"][name]["wall_s"] for r in runs]
        cpus = [r["phases"][name]["cpu_s"] for r in runs]
        lines.append(f"| {name} | {cell(walls)} | {cell(cpus)} |")
    lines.append(
        f"| **overhead** (all but the load) | **{cell([r['overhead_wall_s'] for r in runs])}** "
        f"| **{cell([r['overhead_cpu_s'] for r in runs])}** |"
    )
    lines.append(f"| whole run | {cell([r['wall_s'] for r in runs])} | {cell([r['cpu_s'] for r in runs])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "db-latency.yaml")
    ap.add_argument("--name", default="trial", help="results/<name>.json")
    ap.add_argument("--base", type=Path, help="another checkout, alternated with this one")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = machine()
    sides = {"base": args.base.resolve()} if args.base else {}
    sides["this"] = ROOT
    by_side: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for side, root in sides.items():
                r = one_run(args.scenario.resolve(), Path(tmp) / f"out-{side}-{rep}", root)
                by_side[side].append(r)
                print(
                    f"  {side} run {rep + 1}: {r['wall_s']:.1f} s wall, overhead "
                    f"{r['overhead_wall_s']:.2f} s wall, {r['overhead_cpu_s']:.2f} s CPU "
                    f"(load average {r['load_average']:.1f})",
                    flush=True,
                )
    runs = by_side["this"]
    summary = {
        "goal": "<= 5 s of overhead (wall) on a 30 s process-backend scenario",
        "scenario": str(args.scenario.resolve().relative_to(ROOT)),
        "reps": args.reps,
        "overhead_wall_s": median([r["overhead_wall_s"] for r in runs]),
        "overhead_cpu_s": median([r["overhead_cpu_s"] for r in runs]),
        "load_average_at_end": os.getloadavg()[0],
        "table": table(runs),
    }
    if args.base:
        base = by_side["base"]
        summary["base"] = {
            "checkout": str(args.base),
            "overhead_wall_s": median([r["overhead_wall_s"] for r in base]),
            "overhead_cpu_s": median([r["overhead_cpu_s"] for r in base]),
            "table": table(base),
            "runs": base,
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "trial", "when": started, "machine": host, **summary, "runs": runs}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
    if args.base:
        print(f"base ({args.base}):")
        print(summary["base"]["table"])
        print("this checkout:")
    print(summary["table"])


if __name__ == "__main__":
    main()
