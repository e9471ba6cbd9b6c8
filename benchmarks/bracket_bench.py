"""MTTR accuracy on the ground-truth target: the window figure and the transition bracket.

    python benchmarks/bracket_bench.py [--trials 10] [--delays 1 3] [--rate 100]

The ground-truth service logs the instant it truly recovered (the first request it answers 200
after its dependency has been back for ``D`` seconds). For each delay, one scenario with
``--trials`` trials (a fresh target per trial; de-phased users, 10 users at rate/10 req/s each)
puts a ``down`` fault on its dependency link for 3 s and compares both measured recoveries with
the truth: the window-based ``recovered_at`` (± its resolution) and the recovery bracket's
midpoint (± its half-width). Writes ``benchmarks/results/<name>.json`` (default ``bracket``).
Loopback only.
"""

from __future__ import annotations

import argparse
import json
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


def run(tmp: Path, delay: float, rate: float, trials: int, seed: int) -> list[dict[str, Any]]:
    users = 10
    doc = {
        "name": f"gt-bracket-{delay:g}-{rate:g}",
        "target": {
            "name": str(ROOT / "targets" / "groundtruth"),
            "env": {"app": {"GT_RECOVERY_DELAY": str(delay)}},
        },
        "seed": seed,
        "trials": trials,
        "load": {"users": users, "rate_per_user": rate / users, "duration": "14s", "request_timeout": "1s"},
        "slo": {"window": "1s", "step": "50ms", "hold": "3s"},
        "faults": [{"kind": "down", "link": "app->dep", "at": "4s", "duration": "3s"}],
    }
    scenario = tmp / f"{doc['name']}.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    out = tmp / f"out-{delay:g}-{rate:g}"
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=120 * trials,
    )
    run_dir = sorted(p for p in out.iterdir() if p.is_dir())[-1]
    results = json.loads((run_dir / "results.json").read_text())
    rows = []
    for trial in results["trials"]:
        true_at = truth(run_dir / f"trial-{trial['trial']}", results["t0_ns"])
        (fault,) = trial["faults"]
        bracket = fault.get("recovery_bracket")
        if true_at is None or fault["recovered_at"] is None:
            rows.append({"delay": delay, "rate": rate, "trial": trial["trial"], "measured": False})
            continue
        window_error = fault["recovered_at"] - true_at
        window_res = fault["resolution"]["recovered_at"]
        row: dict[str, Any] = {
            "delay": delay,
            "rate": rate,
            "trial": trial["trial"],
            "measured": True,
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--delays", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--name", default="bracket", help="results/<name>.json")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = machine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, delay in enumerate(args.delays):
            rows += run(Path(tmp), delay, args.rate, args.trials, seed=1 + n)
    measured = [r for r in rows if r["measured"]]
    bracketed = [r for r in measured if r.get("bracket") is not None]
    summary = {
        "goal": "bracket half-width <= 50 ms at 100 req/s; |measured - true| within it in >= 95 % of trials",
        "trials": len(rows),
        "measured": len(measured),
        "bracketed": len(bracketed),
        "window_within_share": sum(r["window_within"] for r in measured) / max(1, len(measured)),
        "bracket_within_share": sum(r["bracket_within"] for r in bracketed) / max(1, len(bracketed)),
        "window_resolution_ms": spread([r["window_resolution"] * 1000 for r in measured]),
        "window_abs_error_ms": spread([abs(r["window_error"]) * 1000 for r in measured]),
        "bracket_half_width_ms": spread([r["bracket_half_width"] * 1000 for r in bracketed]),
        "bracket_abs_error_ms": spread([abs(r["bracket_error"]) * 1000 for r in bracketed]),
        "rate_achieved": spread([r["rate_achieved"] for r in measured if r.get("rate_achieved")]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "bracket", "when": started, "machine": host, **summary, "runs": rows}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
