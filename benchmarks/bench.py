"""aftershock's benchmarks: does the harness disturb what it measures, and how finely does it measure?

    python benchmarks/bench.py [overhead|clients|workers|accuracy|toxiproxy|startup|all]

Every benchmark is bounded in count and time and talks only to loopback (and, for ``startup``,
to containers of its own). Results go to ``benchmarks/results/<name>.json``; the README next to
this file reads them. These machines are shared and noisy: figures are medians over repeats, and
throughput comparisons alternate their two sides in the same run (A B A B ...) and report ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.load.ledger import read_records, shard_paths  # noqa: E402
from harness.load.runner import LoadProcess  # noqa: E402
from harness.scenario.loader import load_target  # noqa: E402
from harness.session import TargetSession  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FAST = ROOT / "benchmarks" / "targets" / "fast"


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg()[0],
    }


def save(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({k: v for k, v in data.items() if k not in ("runs", "machine")}, indent=2))


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# -- load: overhead of the ledger, and distributed mode ----------------------------------------------
def locust_rps(
    locustfile: Path, url: str, users: int, seconds: float, workers: int = 1, by_ledger: bool = False
) -> float:
    """Requests per second achieved between "all users running" and the stop.

    Counted from Locust's own stats (both sides of the overhead comparison alike), or, with
    ``by_ledger``, from the ledger rows that completed in that interval: in distributed mode the
    master only hears from workers every few seconds, so its stats miss the last stretch."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        load = LoadProcess(
            locustfile=locustfile,
            host=url,
            users=users,
            spawn_rate=float(users),
            rate_per_user=10_000.0,
            request_timeout=2.0,
            workers=workers,
            run_dir=run_dir,
            run_id="bench-" + secrets.token_hex(2),
            seed=1,
        )
        with load:
            ready = load.wait_ready(60)
            time.sleep(seconds)
            stop = time.monotonic_ns()
            load.stop()
        if by_ledger:
            done = [r for r in read_records(shard_paths(run_dir)) if ready <= r.end_ns <= stop]
            return len(done) / ((stop - ready) / 1e9)
        stats = (run_dir / "locust_stats.csv").read_text().splitlines()
        header = stats[0].split(",")
        aggregated = next(line.split(",") for line in stats if ",Aggregated," in line)
        count = int(aggregated[header.index("Request Count")])
        return count / ((stop - ready) / 1e9)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def locust_side(locustfile: Path, url: str, users: int, seconds: float) -> dict[str, float]:
    """One side of a client comparison: requests per second and the load process's CPU per request.

    Both are taken between "all users running" and the stop, the requests from Locust's own
    statistics (every side fires Locust's request event alike). CPU per request is the figure a
    busy machine disturbs least; ``per_core_rps`` is its inverse, what one fully used core gives."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        load = LoadProcess(
            locustfile=locustfile,
            host=url,
            users=users,
            spawn_rate=float(users),
            rate_per_user=10_000.0,
            request_timeout=2.0,
            run_dir=run_dir,
            run_id="bench-" + secrets.token_hex(2),
            seed=1,
        )
        with load:
            ready = load.wait_ready(60)
            assert load._proc is not None
            cpu0 = cpu_seconds(load._proc.pid)
            time.sleep(seconds)
            cpu1 = cpu_seconds(load._proc.pid)
            stop = time.monotonic_ns()
            load.stop()
        stats = (run_dir / "locust_stats.csv").read_text().splitlines()
        header = stats[0].split(",")
        aggregated = next(line.split(",") for line in stats if ",Aggregated," in line)
        count = int(aggregated[header.index("Request Count")])
        cpu_us = (cpu1 - cpu0) * 1e6 / count
        return {
            "rps": count / ((stop - ready) / 1e9),
            "cpu_us_per_request": cpu_us,
            "per_core_rps": 1e6 / cpu_us,
        }


CLIENTS = {
    "aftershock LedgerUser": "locustfile.py",
    "Locust FastHttpUser": "locust_fast_locustfile.py",
    "Locust HttpUser": "locust_http_locustfile.py",
}


def bench_clients(rounds: int = 5, seconds: float = 10.0, users: int = 40) -> None:
    """aftershock's recording user against Locust's own FastHttpUser and HttpUser, same target, same
    users, the three sides alternated in every round; medians over rounds."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, fast_target(Path(tmp)) as target:
        for r in range(rounds):
            for name, file in CLIENTS.items():
                side = locust_side(FAST / file, target.url(), users, seconds)
                runs.append({"round": r, "client": name, **side})
                print(
                    f"  {name}: {side['rps']:.0f} req/s, {side['cpu_us_per_request']:.0f} us CPU/request,"
                    f" {side['per_core_rps']:.0f} req/s per core"
                )
    figures = {
        name: {
            k: spread([x[k] for x in runs if x["client"] == name])
            for k in ("rps", "cpu_us_per_request", "per_core_rps")
        }
        for name in CLIENTS
    }
    ours = [x for x in runs if x["client"] == "aftershock LedgerUser"]
    fast = [x for x in runs if x["client"] == "Locust FastHttpUser"]
    save(
        "clients",
        {
            "goal": "aftershock LedgerUser >= 0.9x Locust FastHttpUser req/s per core",
            "users": users,
            "seconds_per_side": seconds,
            "rounds": rounds,
            "per_core_ratio_vs_fasthttpuser": spread(
                [a["per_core_rps"] / b["per_core_rps"] for a, b in zip(ours, fast, strict=True)]
            ),
            "rps_ratio_vs_fasthttpuser": spread(
                [a["rps"] / b["rps"] for a, b in zip(ours, fast, strict=True)]
            ),
            "clients": figures,
            "runs": runs,
        },
    )


def fast_target(tmp: Path) -> TargetSession:
    return TargetSession(load_target(FAST), FAST, tmp, "bench-" + secrets.token_hex(2))


def bench_overhead(rounds: int = 5, seconds: float = 10.0, users: int = 20) -> None:
    """The recording user with its ledger vs the very same user without it, against a fast target:
    req/s and, less disturbed by other work on the machine, load CPU per request."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp, fast_target(Path(tmp)) as target:
        for _ in range(rounds):
            recorded = locust_side(FAST / "locustfile.py", target.url(), users, seconds)
            bare = locust_side(FAST / "bare_locustfile.py", target.url(), users, seconds)
            runs.append(
                {
                    "ledger": recorded,
                    "bare": bare,
                    "ratio": recorded["rps"] / bare["rps"],
                    "per_core_ratio": recorded["per_core_rps"] / bare["per_core_rps"],
                }
            )
            print(
                f"  ledger {recorded['rps']:.0f} req/s ({recorded['cpu_us_per_request']:.0f} us CPU/request),"
                f" bare {bare['rps']:.0f} req/s ({bare['cpu_us_per_request']:.0f} us),"
                f" per-core ratio {runs[-1]['per_core_ratio']:.3f}"
            )
    save(
        "overhead",
        {
            "goal": "ratio >= 0.9",
            "users": users,
            "seconds_per_side": seconds,
            "per_core_ratio": spread([r["per_core_ratio"] for r in runs]),
            "ratio": spread([r["ratio"] for r in runs]),
            "ledger_cpu_us_per_request": spread([r["ledger"]["cpu_us_per_request"] for r in runs]),
            "bare_cpu_us_per_request": spread([r["bare"]["cpu_us_per_request"] for r in runs]),
            "ledger_rps": spread([r["ledger"]["rps"] for r in runs]),
            "bare_rps": spread([r["bare"]["rps"] for r in runs]),
            "runs": runs,
        },
    )


def bench_workers(rounds: int = 2, seconds: float = 10.0, users: int = 40) -> None:
    """One Locust process vs a master with two workers, same users, same fast target."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp, fast_target(Path(tmp)) as target:
        for _ in range(rounds):
            one = locust_rps(FAST / "locustfile.py", target.url(), users, seconds, workers=1, by_ledger=True)
            two = locust_rps(FAST / "locustfile.py", target.url(), users, seconds, workers=2, by_ledger=True)
            runs.append({"one_rps": one, "two_rps": two, "ratio": two / one})
            print(f"  1 process {one:.0f} req/s, 2 workers {two:.0f} req/s")
    save(
        "workers",
        {
            "goal": "2 workers > 1 on 2 cores",
            "users": users,
            "seconds": seconds,
            "ratio": spread([r["ratio"] for r in runs]),
            "runs": runs,
        },
    )


# -- MTTR accuracy and fault latency, on the ground-truth target -------------------------------------
def groundtruth_run(tmp: Path, delay: float, rate_per_user: float, n: int) -> dict[str, Any]:
    doc = {
        "name": f"gt-{delay:g}-{rate_per_user:g}-{n}",
        "target": {
            "name": str(ROOT / "targets" / "groundtruth"),
            "env": {"app": {"GT_RECOVERY_DELAY": str(delay)}},
        },
        "load": {"users": 10, "rate_per_user": rate_per_user, "duration": "16s", "request_timeout": "1s"},
        "slo": {"window": "1s", "step": "50ms", "hold": "3s"},
        "faults": [{"kind": "down", "link": "app->dep", "at": "4s", "duration": "3s"}],
    }
    scenario = tmp / f"{doc['name']}.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    out = tmp / "out"
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=300,
    )
    run_dir = sorted(p for p in out.iterdir() if p.is_dir())[-1]
    results = json.loads((run_dir / "results.json").read_text())
    t0 = results["t0_ns"]
    fault = results["trials"][0]["faults"][0]
    log = (run_dir / "trial-1" / "services" / "app.log").read_text().splitlines()
    truth = next((int(line.split()[-1]) - t0) / 1e9 for line in log if line.startswith("GT recovered "))
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    injected = next(e for e in journal if e["event"] == "fault_injected")
    records = sorted(read_records(shard_paths(run_dir / "trial-1")), key=lambda r: r.end_ns)
    first_hit = next(r for r in records if r.end_ns >= injected["t_ns"] and r.outcome != "ok")
    return {
        "delay": delay,
        "rate": 10 * rate_per_user,
        "true_recovered_at": truth,
        "measured_recovered_at": fault["recovered_at"],
        "error": abs(fault["recovered_at"] - truth),
        "resolution": fault["resolution"]["recovered_at"],
        "within": abs(fault["recovered_at"] - truth) <= fault["resolution"]["recovered_at"],
        "toxiproxy_call_ms": injected["call_ns"] / 1e6,
        "schedule_to_injected_ms": (injected["t_ns"] - injected["scheduled_ns"]) / 1e6,
        "injected_to_first_affected_request_ms": (first_hit.end_ns - injected["t_ns"]) / 1e6,
    }


def bench_accuracy(
    delays: tuple[float, ...] = (1.0, 3.0), rates: tuple[float, ...] = (5.0, 10.0, 20.0), reps: int = 2
) -> None:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for delay in delays:
            for rate in rates:
                for n in range(reps):
                    r = groundtruth_run(Path(tmp), delay, rate, n)
                    runs.append(r)
                    print(
                        f"  D={delay:g}s at {r['rate']:g} req/s: error {r['error'] * 1000:.0f} ms,"
                        f" resolution {r['resolution'] * 1000:.0f} ms, within: {r['within']}"
                    )
    by_rate = {}
    for rate in sorted({r["rate"] for r in runs}):
        subset = [r for r in runs if r["rate"] == rate]
        by_rate[str(rate)] = {
            "resolution": spread([r["resolution"] for r in subset]),
            "error": spread([r["error"] for r in subset]),
        }
    save(
        "accuracy",
        {
            "goal": "error within resolution in >= 95 % of trials; resolution <= 100 ms at >= 100 req/s",
            "within_resolution": sum(r["within"] for r in runs) / len(runs),
            "by_rate": by_rate,
            "runs": runs,
        },
    )
    save(
        "fault_latency",
        {
            "goal": "<= 50 ms",
            "toxiproxy_call_ms": spread([r["toxiproxy_call_ms"] for r in runs]),
            "schedule_to_injected_ms": spread([r["schedule_to_injected_ms"] for r in runs]),
            "injected_to_first_affected_request_ms": spread(
                [r["injected_to_first_affected_request_ms"] for r in runs]
            ),
            "runs": [
                {
                    k: r[k]
                    for k in (
                        "rate",
                        "toxiproxy_call_ms",
                        "schedule_to_injected_ms",
                        "injected_to_first_affected_request_ms",
                    )
                }
                for r in runs
            ],
        },
    )


# -- Toxiproxy's own cost --------------------------------------------------------------------------
def bench_toxiproxy(n: int = 2000) -> None:
    """Round-trip time of a small message, direct vs through a proxy with no toxic."""
    from harness.toxiproxy.provision import find_toxiproxy
    from harness.toxiproxy.server import ToxiproxyServer

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(64):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    direct_addr = srv.getsockname()

    def rtts(addr: tuple[str, int]) -> list[float]:
        out = []
        with socket.create_connection(addr) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(n):
                t = time.perf_counter_ns()
                s.sendall(b"ping")
                s.recv(64)
                out.append((time.perf_counter_ns() - t) / 1000)
        return out

    with tempfile.TemporaryDirectory() as tmp, ToxiproxyServer(find_toxiproxy(), Path(tmp) / "log") as server:
        host, _, port = server.create_proxy(
            "bench", "127.0.0.1:0", f"{direct_addr[0]}:{direct_addr[1]}"
        ).rpartition(":")
        direct, proxied = rtts(direct_addr), rtts((host, int(port)))
    stop.set()
    srv.close()
    q = statistics.quantiles
    save(
        "toxiproxy",
        {
            "messages": n,
            "direct_us": {"median": statistics.median(direct), "p99": q(direct, n=100)[98]},
            "proxied_us": {"median": statistics.median(proxied), "p99": q(proxied, n=100)[98]},
            "added_us_median": statistics.median(proxied) - statistics.median(direct),
        },
    )


# -- start-up and teardown ---------------------------------------------------------------------------
def bench_startup(reps: int = 3, docker: bool = True) -> None:
    target_dir = ROOT / "targets" / "orders"
    target = load_target(target_dir)
    results: dict[str, Any] = {"goal": "process <= 10 s, docker <= 20 s (cached images)", "target": "orders"}
    for backend in ["process", "docker"] if docker else ["process"]:
        ups, downs = [], []
        for _ in range(reps):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                session = TargetSession(
                    target, target_dir, Path(tmp), "bench-" + secrets.token_hex(2), backend=backend
                )
                session.__enter__()
                ups.append(time.perf_counter() - t)
                t = time.perf_counter()
                session.__exit__(None, None, None)
                downs.append(time.perf_counter() - t)
            print(f"  {backend}: up {ups[-1]:.1f} s, down {downs[-1]:.1f} s")
        results[backend] = {"up_s": spread(ups), "down_s": spread(downs)}
    save("startup", results)


def main() -> None:
    benches = {
        "overhead": bench_overhead,
        "clients": bench_clients,
        "workers": bench_workers,
        "accuracy": bench_accuracy,
        "toxiproxy": bench_toxiproxy,
        "startup": bench_startup,
    }
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["all"], choices=[*benches, "all"])
    args = ap.parse_args()
    for name in benches if "all" in args.which else args.which:
        print(f"== {name}")
        benches[name]()


if __name__ == "__main__":
    main()
