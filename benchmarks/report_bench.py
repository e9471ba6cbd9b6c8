"""Benchmark: regenerate every report of a run from its directory, at 1e5 and 1e6 requests.

What is timed (wall clock, and CPU time of the process, which other work on the machine
disturbs less) is what ``aftershock report RUN_DIR`` does after a run: ``analyse_run`` (read the
journal and ledger, judge health, measure faults) and ``write_reports`` (report.html with its
figures, junit.xml, summary.md). Each measurement runs in a fresh subprocess, so its peak
resident memory (``ru_maxrss``) is its own and includes the interpreter, numpy and matplotlib
- what a CI runner actually has to provide. The median of ``--repeats`` runs is reported.

The synthetic run directories (journal, scenario copy, ledger shards written in the ledger's
own CSV format) are built once per size in a temporary directory and removed afterwards. The
traffic is a steady 1,667 requests per second in two shards (two Locust processes) - 60 s of
load for 1e5 requests, 600 s for 1e6 - with a ``down`` fault a third of the way in (a fifth of
the run, at most 60 s) and failures until 5 s after it clears, so the analysis finds a real
impact and a 5 s recovery to draw.

With ``--consistency`` the run is the orders target's: every request is a keyed write
(``create_order``, its amount as the ledger value), the journal carries the target's consistency
contract (and, with ``--audit-event``, the audit event that makes the operations view compute and
draw the audit's work log), and ``trial-1/audit/`` holds what the orders audit returns, in the
layout the harness keeps it (a JSON line per effect, a file per source): an ``order`` effect per applied
write with its work-item stamps (``accepted_ns``, ``finished_ns``, ``attempts``) and a ``charge``
per order, all acknowledged writes applied, half of the indeterminate ones, one charge in 1,000
taken twice and one order in 5,000 stored with a wrong amount, so every figure has work to do.

    .venv/bin/python benchmarks/report_bench.py                # 1e5 and 1e6, 3 runs each
    .venv/bin/python benchmarks/report_bench.py --sizes 100000 --repeats 1
    .venv/bin/python benchmarks/report_bench.py --consistency --sizes 1000000 \
        --out benchmarks/results/report_consistency.json

Writes ``benchmarks/results/report.json``. Goals (CPU seconds of the whole child process, and its
peak RSS): plain 1e6 requests <= 10 s and <= 1 GiB; plain 1e7 <= 10 CPU-s; with consistency,
1e6 writes <= 6 CPU-s and <= 300 MiB, 1e7 writes <= 60 CPU-s and <= 2 GiB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "report.json"
RATE = 1667.0  # requests per second, both shards together
GOAL_SECONDS = 10.0
GOAL_BYTES = 1 << 30

SCENARIO = """\
name: bench-down
description: Synthetic benchmark run; the dependency is down for a fifth of the run (at most 60 s).
target: groundtruth
load:
  users: 167
  rate_per_user: 10
  duration: {duration}s
slo:
  window: 1s
  step: 100ms
  success_rate: 0.99
  hold: 5s
faults:
  - kind: down
    link: app->dep
    at: {at}s
    duration: {fault_for}s
expect:
  recovery_time: "<= 10s"
  recovered: true
{extra_expect}"""

#: The orders target's contract (targets/orders/target.yaml), as the journal records it.
CONTRACT = {"write_ops": ["create_order"], "primary": "order", "final_status": "confirmed"}


def make_run_dir(
    run_dir: Path, requests: int, shards: int = 2, consistency: bool = False, audit_event: bool = False
) -> None:
    """A run directory as the orchestrator leaves it, with ``requests`` ledger rows (all keyed
    writes, with an orders audit, when ``consistency``)."""
    sys.path.insert(0, str(REPO))
    from harness.load.ledger import COLUMNS

    ns = 1_000_000_000
    t0 = 10_000 * ns
    duration = requests / RATE
    load_start, fault_at, fault_for = 1.0, duration / 3, min(60.0, duration / 5)
    inject, clear = load_start + fault_at, load_start + fault_at + fault_for

    def at(seconds: float) -> int:
        return t0 + round(seconds * ns)

    fault = {"fault": 0, "trial": 1, "kind": "down", "target": "app->dep", "label": "down@app->dep"}
    events: list[tuple[int, str, dict[str, Any]]] = [
        (
            at(0.001),
            "run_started",
            {
                "run_id": run_dir.name,
                "scenario": "bench-down",
                "backend": "process",
                "trials": 1,
                "t0_ns": t0,
                "seed": 1,
                "target": "groundtruth",
                "scenario_file": "benchmarks/bench-down.yaml",
                "wallclock": "2026-11-21T12:00:00+00:00",
                "clock": "CLOCK_MONOTONIC",
                "environment": {"python": platform.python_version()},
                **({"consistency": CONTRACT} if consistency else {}),
            },
        ),
        (at(0.002), "trial_started", {"trial": 1, "target": "groundtruth"}),
        (at(load_start), "load_started", {"trial": 1, "users": 167, "duration": duration}),
        (at(inject), "fault_injected", {**fault, "scheduled_ns": at(inject)}),
        (at(clear), "fault_cleared", {**fault, "scheduled_ns": at(clear)}),
        (at(load_start + duration), "load_stopped", {"trial": 1}),
        *(
            [(at(load_start + duration + 0.3), "audit", {"trial": 1, "summary": "synthetic"})]
            if audit_event
            else []
        ),
        (at(load_start + duration + 0.5), "run_finished", {"complete": True, "trials_run": 1}),
    ]
    run_dir.mkdir(parents=True)
    with (run_dir / "journal.jsonl").open("w", encoding="utf-8") as fh:
        for t_ns, kind, data in events:
            fh.write(json.dumps({"t_ns": t_ns, "t": (t_ns - t0) / ns, "event": kind, **data}) + "\n")
    (run_dir / "scenario.yaml").write_text(
        SCENARIO.format(
            duration=f"{duration:g}",
            at=f"{fault_at:g}",
            fault_for=f"{fault_for:g}",
            extra_expect="  lost_writes: 0\n" if consistency else "",
        ),
        encoding="utf-8",
    )
    trial = run_dir / "trial-1"
    trial.mkdir()
    period = 1.0 / RATE
    extra = [""] * (len(COLUMNS) - 10)  # columns added to the ledger after the first ten
    files = [
        (trial / f"ledger-{1000 + k}.csv").open("w", newline="", encoding="utf-8") for k in range(shards)
    ]
    writers = [csv.writer(f) for f in files]
    for w in writers:
        w.writerow(COLUMNS)
    applied: list[tuple[int, int, int]] = []  # (request, accepted_ns, amount) of each applied write
    for i in range(requests):
        end = load_start + (i + 1) * period
        bad = inject <= end < clear + 5.0
        latency = 0.004 + (i % 7) * 0.001 + (0.3 if i % 997 == 0 else 0.0)
        amount = 100 + i % 9000
        if consistency and (not bad or i % 2 == 0):
            applied.append((i, at(end - latency / 2), amount))
        writers[i % shards].writerow(
            [
                f"r{i}",
                "create_order" if consistency else "work",
                f"k{i:x}-{i % 167}-{i}" if consistency else "",
                at(end - latency),
                at(end),
                "indeterminate" if bad else "ok",
                (503 if bad else 201) if consistency else (503 if bad else 200),
                f"{latency * 1000:.3f}",
                1,
                "ReadTimeout: timed out" if bad and consistency else "",
                *([str(amount)] if consistency else extra),
            ]
        )
    for f in files:
        f.close()
    if consistency:
        write_audit(trial, applied)


def write_audit(trial_dir: Path, applied: list[tuple[int, int, int]]) -> None:
    """The orders audit of ``applied`` writes, kept as the harness keeps it
    (:mod:`harness.measure.audit_store`: ``audit/<n>-<service>.jsonl``, a line naming the source
    and holding its document without the effects, then one effect per line), streamed so that
    building it costs little memory."""

    def order(i: int, accepted: int, amount: int) -> dict[str, Any]:
        return {
            "kind": "order",
            "key": f"k{i:x}-{i % 167}-{i}",
            "id": str(i + 1),
            "value": amount + 1 if i % 5000 == 1 else amount,
            "status": "confirmed",
            "accepted_ns": accepted,
            "finished_ns": accepted + 20_000_000,
            "attempts": 1,
        }

    def charges(i: int, _accepted: int, amount: int) -> list[dict[str, Any]]:
        charge = {"kind": "charge", "key": f"k{i:x}-{i % 167}-{i}", "id": i + 1, "value": amount}
        charge["status"] = "captured"
        return [charge, {**charge, "id": -(i + 1)}] if i % 1000 == 3 else [charge]

    def effects(make: Any) -> Any:
        for row in applied:
            made = make(*row)
            yield from made if isinstance(made, list) else [made]

    directory = trial_dir / "audit"
    directory.mkdir()
    sources = [("api", effects(order)), ("payments", effects(charges))]
    for n, (name, items) in enumerate(sources, start=1):
        with (directory / f"{n}-{name}.jsonl").open("w", encoding="utf-8") as fh:
            head = {"source": name, "effects_follow": True, "document": {"pending": 0}}
            fh.write(json.dumps(head) + "\n")
            for e in items:
                fh.write(json.dumps(e, separators=(",", ":")) + "\n")


def child(run_dir: Path) -> None:
    """One measurement: analyse + write reports, then print timings and peak RSS as JSON."""
    sys.path.insert(0, str(REPO))
    t_import = time.perf_counter()
    from harness.analysis import analyse_run
    from harness.report import write_reports

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    results, analyses = analyse_run(run_dir)
    t1 = time.perf_counter()
    paths = write_reports(run_dir, results, analyses)
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    trial = results.trials[0]
    fault = trial.faults[0]
    c = trial.consistency
    print(
        json.dumps(
            {
                "import_s": t0 - t_import,
                "analyse_s": t1 - t0,
                "reports_s": t2 - t1,
                "total_s": t2 - t0,
                "cpu_s": cpu,
                # the whole process: interpreter start, imports (numpy, pyarrow, matplotlib), analysis,
                # reports, every thread (Arrow's CSV reader uses a pool)
                "process_cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_bytes": peak,
                "rss_after_imports_bytes": rss_imports,
                "requests": trial.load.requests if trial.load is not None else 0,
                "passed": results.passed,
                "recovery_time": fault.recovery_time,
                "consistency": None
                if c is None
                else {
                    k: getattr(c, k)
                    for k in ("writes", "acknowledged", "indeterminate", "lost", "duplicated", "corrupted")
                },
                "error": results.error,
                "report_bytes": {p.name: p.stat().st_size for p in paths},
            }
        )
    )


def data_child(run_dir: Path) -> None:
    """The ledger's part alone: the one columnar read, samples and outcome counts, the failure
    breakdown and the consistency reconcile (audit included) - what ``analyse_run`` spends on the
    ledger and the audit's data figures, without health, faults, the operations view or reports."""
    sys.path.insert(0, str(REPO))
    from harness.load.ledger import shard_paths
    from harness.measure.samples import load_samples_counted
    from harness.measure.trial_ledger import consistency_of, failure_breakdown_columns
    from harness.run_record import read_run

    cpu0 = time.process_time()
    record = read_run(run_dir)
    shards = shard_paths(run_dir / "trial-1")
    samples, counts = load_samples_counted(shards, record.t0_ns)
    from harness.measure.columns import read_ledger

    failures = failure_breakdown_columns(read_ledger(shards), record.t0_ns, [("down", 0.0, None)])
    c = consistency_of(run_dir, record, 1)
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "data_cpu_s": cpu,
                "process_cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_bytes": usage.ru_maxrss * 1024,
                "requests": len(samples),
                "counts": counts,
                "failed": failures.failed,
                "consistency": None
                if c is None
                else {"writes": c.writes, "lost": c.lost, "corrupted": c.corrupted},
            }
        )
    )


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import matplotlib
    import numpy
    import pyarrow

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_bytes": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "matplotlib": matplotlib.__version__,
    }


def goal_of(requests: int, consistency: bool) -> dict[str, float] | None:
    """The issue's goals: whole-process CPU seconds and peak RSS, by size and kind of run."""
    if consistency:
        return {
            1_000_000: {"process_cpu_s": 6.0, "peak_rss_bytes": 300 * 2**20},
            10_000_000: {"process_cpu_s": 60.0, "peak_rss_bytes": 2 * 2**30},
        }.get(requests)
    return {
        1_000_000: {"process_cpu_s": GOAL_SECONDS, "peak_rss_bytes": GOAL_BYTES},
        10_000_000: {"process_cpu_s": 10.0},
    }.get(requests)


def meets(goal: dict[str, float] | None, median: dict[str, float]) -> bool | None:
    return None if goal is None else all(median[k] <= v for k, v in goal.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--consistency", action="store_true", help="the orders target's run: keyed writes and an audit"
    )
    parser.add_argument(
        "--audit-event",
        action="store_true",
        help="journal the audit (as a real run does): the operations view (work log, backlog figure) is "
        "then computed and drawn too",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--data-only",
        action="store_true",
        help="measure only the ledger's part (read, samples, failure breakdown, consistency), no reports",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.data_child:
        data_child(args.data_child)
        return
    if args.make:
        make_run_dir(args.make, args.sizes[0], consistency=args.consistency, audit_event=args.audit_event)
        return
    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aftershock-bench-") as tmp:
        for n in args.sizes:
            run_dir = Path(tmp) / f"20261121-120000-{n:x}"[:20]
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            # built in a subprocess of its own: ru_maxrss survives fork and exec, so a measuring child
            # forked from a parent grown by building the run would inherit the parent's peak
            make = [sys.executable, __file__, "--make", str(run_dir), "--sizes", str(n)]
            make += ["--consistency"] * args.consistency + ["--audit-event"] * args.audit_event
            subprocess.run(make, check=True, cwd=REPO)
            print(f"{n:>9} requests: run dir built in {time.perf_counter() - started:.1f}s", file=sys.stderr)
            runs = []
            for k in range(args.repeats):
                proc = subprocess.run(
                    [sys.executable, __file__, "--data-child" if args.data_only else "--child", str(run_dir)],
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd=REPO,
                )
                if proc.returncode != 0:
                    sys.exit(f"measurement failed:\n{proc.stderr}")
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                r = runs[-1]
                if args.data_only:
                    print(f"{n:>9} requests, run {k + 1}: {json.dumps(r)}", file=sys.stderr)
                    continue
                print(
                    f"{n:>9} requests, run {k + 1}: analyse {r['analyse_s']:.2f}s"
                    f" + reports {r['reports_s']:.2f}s = {r['total_s']:.2f}s (cpu {r['cpu_s']:.2f}s,"
                    f" process cpu {r['process_cpu_s']:.2f}s),"
                    f" peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB",
                    file=sys.stderr,
                )
            load_after = os.getloadavg()[0]
            keys = (
                ("data_cpu_s", "process_cpu_s", "peak_rss_bytes")
                if args.data_only
                else (
                    "analyse_s",
                    "reports_s",
                    "total_s",
                    "cpu_s",
                    "process_cpu_s",
                    "peak_rss_bytes",
                    "rss_after_imports_bytes",
                )
            )
            median = {key: statistics.median(r[key] for r in runs) for key in keys}
            sizes.append(
                {
                    "requests": n,
                    "ledger_bytes": sum(p.stat().st_size for p in (run_dir / "trial-1").glob("ledger-*.csv")),
                    # Other work on a 2-core machine inflates the times: a 1-minute load average
                    # well above 1 (this benchmark's own) means the figures are pessimistic.
                    "load_average_1m": {"before": load_before, "after": load_after},
                    "median": median,
                    "runs": runs,
                    "goal": goal_of(n, args.consistency),
                    "meets_goal": meets(goal_of(n, args.consistency), median),
                }
            )
    report = {
        "benchmark": (
            "the ledger's part of analyse_run (columnar read, samples, failure breakdown, consistency)"
            if args.data_only
            else "analyse_run + write_reports from a run directory (aftershock report RUN_DIR)"
        )
        + (", orders run with a consistency contract and audit" if args.consistency else ""),
        "data_only": args.data_only,
        "consistency": args.consistency,
        "audit_event": args.audit_event,
        "repeats": args.repeats,
        "statistic": "median",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "sizes": sizes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
