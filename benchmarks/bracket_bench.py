"""MTTR accuracy on the ground-truth target: the window figure and the transition bracket.

    python benchmarks/bracket_bench.py [--trials 10] [--delays 1 3] [--rates 100 1000] [--workers 1]

The ground-truth service logs the instant it truly recovered (the first request it answers 200
after its dependency has been back for ``D`` seconds). For each rate and delay, one scenario
with ``--trials`` trials (a fresh target per trial; de-phased users, 10 users at rate/10 req/s
each) puts a ``down`` fault on its dependency link for 3 s and compares both measured recoveries
with the truth: the window-based ``recovered_at`` (± its resolution) and the recovery bracket's
midpoint (± its half-width). Writes ``benchmarks/results/<name>.json`` (default ``bracket``) with
a summary per rate and per (rate, delay), the load average around each scenario, and prints the
table for the README. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def truth(trial_dir: Path, t0_ns: int) -> float | None:
    for line in (trial_dir / "services" / "app.log").read_text().splitlines():
        if line.startswith("GT recovered "):
            return (int(line.split()[-1]) - t0_ns) / 1e9
    return None


def run(tmp: Path, delay: float, rate: float, trials: int, seed: int, workers: int) -> list[dict[str, Any]]:
    users = 10
    doc = {
        "name": f"gt-bracket-{delay:g}-{rate:g}",
        "target": {
            "name": str(ROOT / "targets" / "groundtruth"),
            "env": {"app": {"GT_RECOVERY_DELAY": str(delay)}},
        },
        "seed": seed,
        "trials": trials,
        "load": {
            "users": users,
            "rate_per_user": rate / users,
            "duration": "14s",
            "request_timeout": "1s",
            "workers": workers,
        },
        "slo": {"window": "1s", "step": "50ms", "hold": "3s"},
        "faults": [{"kind": "down", "link": "app->dep", "at": "4s", "duration": "3s"}],
    }
    scenario = tmp / f"{doc['name']}.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    out = tmp / f"out-{delay:g}-{rate:g}"
    load_before = os.getloadavg()[0]
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=120 * trials,
    )
    load_after = os.getloadavg()[0]
    run_dir = sorted(p for p in out.iterdir() if p.is_dir())[-1]
    results = json.loads((run_dir / "results.json").read_text())
    rows = []
    for trial in results["trials"]:
        true_at = truth(run_dir / f"trial-{trial['trial']}", results["t0_ns"])
        (fault,) = trial["faults"]
        bracket = fault.get("recovery_bracket")
        if true_at is None or fault["recovered_at"] is None:
            rows.append(
                {
                    "delay": delay,
                    "rate": rate,
                    "trial": trial["trial"],
                    "measured": False,
                    "load": load_before,
                }
            )
            continue
        window_error = fault["recovered_at"] - true_at
        window_res = fault["resolution"]["recovered_at"]
        row: dict[str, Any] = {
            "delay": delay,
            "rate": rate,
            "trial": trial["trial"],
            "measured": True,
            "load_average": [load_before, load_after],
            "rate_achieved": (trial.get("baseline") or {}).get("rate_achieved"),
            "true_recovered_at": true_at,
            "window_recovered_at": fault["recovered_at"],
            "window_error": window_error,
            "window_resolution": window_res,
            "window_within": abs(window_error) <= window_res,
            "bracket": bracket,
        }
        if bracket is not None:
            row["bracket_error"] = bracket["at"] - true_at
            row["bracket_half_width"] = bracket["half_width"]
            row["bracket_within"] = abs(bracket["at"] - true_at) <= bracket["half_width"]
        rows.append(row)
        print(
            f"  D={delay:g}s {rate:g} req/s trial {trial['trial']}: window {window_error * 1000:+.0f} ms "
            f"(±{window_res * 1000:.0f}), bracket "
            + (
                f"{row['bracket_error'] * 1000:+.1f} ms (±{row['bracket_half_width'] * 1000:.1f})"
                if bracket
                else "none"
            ),
            flush=True,
        )
    return rows


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [r for r in rows if r["measured"]]
    bracketed = [r for r in measured if r.get("bracket") is not None]
    return {
        "trials": len(rows),
        "measured": len(measured),
        "bracketed": len(bracketed),
        "window_within": sum(r["window_within"] for r in measured),
        "window_within_share": sum(r["window_within"] for r in measured) / max(1, len(measured)),
        "bracket_within": sum(r["bracket_within"] for r in bracketed),
        "bracket_within_share": sum(r["bracket_within"] for r in bracketed) / max(1, len(bracketed)),
        "window_resolution_ms": spread([r["window_resolution"] * 1000 for r in measured]),
        "window_abs_error_ms": spread([abs(r["window_error"]) * 1000 for r in measured]),
        "bracket_half_width_ms": spread([r["bracket_half_width"] * 1000 for r in bracketed]),
        "bracket_abs_error_ms": spread([abs(r["bracket_error"]) * 1000 for r in bracketed]),
        "rate_achieved": spread([r["rate_achieved"] for r in measured if r.get("rate_achieved")]),
        "load_average": spread([x for r in measured for x in r["load_average"]]),
    }


def table(groups: dict[str, dict[str, Any]]) -> str:
    """The README's table: one line per (rate, delay) and per rate, window and bracket side by side."""

    def ms(d: dict[str, float], key: str = "median") -> str:
        return f"{d[key]:.1f}" if d.get("n") else "-"

    lines = [
        "| rate asked | D | trials | rate delivered (median) | load average"
        " | window: resolution (median, max) | window: within"
        " | bracket: half-width (median, max) | bracket: \\|error\\| (median, max)"
        " | bracket: within |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, g in groups.items():
        rate, _, delay = label.partition(" ")
        la = g["load_average"]
        lines.append(
            f"| {rate} req/s | {delay or 'all'} | {g['trials']} | {ms(g['rate_achieved'])} req/s"
            f" | {ms(la, 'min')} - {ms(la, 'max')}"
            f" | {ms(g['window_resolution_ms'])} ms, {ms(g['window_resolution_ms'], 'max')} ms"
            f" | {g['window_within']} / {g['measured']}"
            f" | {ms(g['bracket_half_width_ms'])} ms, {ms(g['bracket_half_width_ms'], 'max')} ms"
            f" | {ms(g['bracket_abs_error_ms'])} ms, {ms(g['bracket_abs_error_ms'], 'max')} ms"
            f" | {g['bracket_within']} / {g['bracketed']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10, help="trials per (rate, delay)")
    ap.add_argument("--delays", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--rates", type=float, nargs="+", default=[100.0, 1000.0])
    ap.add_argument("--workers", type=int, default=1, help="load.workers (Locust processes)")
    ap.add_argument("--name", default="bracket", help="results/<name>.json")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = machine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in args.rates:
            for n, delay in enumerate(args.delays):
                rows += run(Path(tmp), delay, rate, args.trials, seed=1 + n, workers=args.workers)
    groups: dict[str, dict[str, Any]] = {}
    for rate in args.rates:
        for delay in args.delays:
            groups[f"{rate:g} {delay:g} s"] = summarise(
                [r for r in rows if r["rate"] == rate and r["delay"] == delay]
            )
        groups[f"{rate:g}"] = summarise([r for r in rows if r["rate"] == rate])
    summary = {
        "goal": (
            "bracket half-width <= 50 ms at 100 req/s and <= 10 ms at >= 1,000 req/s; "
            "|measured - true| within it in >= 95 % of >= 20 trials per rate"
        ),
        "workers": args.workers,
        "load_average_at_end": os.getloadavg()[0],
        "all": summarise(rows),
        "by_rate_and_delay": groups,
        "table": table(groups),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "bracket", "when": started, "machine": host, **summary, "runs": rows}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(summary["all"], indent=2))
    print(summary["table"])


if __name__ == "__main__":
    main()
