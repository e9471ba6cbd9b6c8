"""The run orchestrator: the only place that knows the order of a rehearsal's phases.

validate (done by the loader) → per trial: Toxiproxy up → proxies → services up → load →
fault timeline → load stopped → audit → teardown; then measure, judge, write results.

Safety: every resource is entered on a :class:`~harness.teardown.Teardown` stack that runs on
every exit path, newest first (faults cleared before load stops before services stop). SIGINT
and SIGTERM become :class:`~harness.errors.Interrupted`; what was measured is still written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from harness import __version__, reaper
from harness.clock import CLOCK_NAME, now_ns
from harness.errors import AftershockError, ExitCode, InfrastructureError, Interrupted
from harness.events import EventBus, RunEvent
from harness.faults.link import LinkFault
from harness.faults.provision import TOXIPROXY_VERSION, find_toxiproxy
from harness.faults.proxies import LinkProxies
from harness.faults.timeline import FaultTimeline
from harness.faults.toxiproxy import ToxiproxyServer
from harness.journal import JOURNAL_NAME, Journal
from harness.load.ledger import shard_paths
from harness.load.runner import LoadProcess
from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.recovery import FaultMeasurement, measure_fault
from harness.measure.samples import RequestSamples, load_samples
from harness.measure.verdicts import Verdict, judge_fault
from harness.report.results import SCHEMA, write_results
from harness.scenario.loader import LoadedScenario
from harness.scenario.models import Fault, Scenario
from harness.targets.backend import Backend
from harness.targets.process import ProcessBackend
from harness.teardown import Teardown


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("reports")
    backend: str | None = None
    trials: int | None = None
    seed: int | None = None


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    results: dict[str, Any]
    exit_code: ExitCode
    error: BaseException | None = None


@dataclass
class TrialRecord:
    trial: int
    dir: Path
    load_started_ns: int | None = None
    load_stopped_ns: int | None = None
    injected: dict[int, int] = field(default_factory=dict)
    cleared: dict[int, int] = field(default_factory=dict)
    audit: Any = None
    error: str | None = None


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise :class:`Interrupted` in the main thread so teardown runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def shielded() -> Iterator[None]:
    """Teardown must finish: a second Ctrl-C during it is acknowledged, not obeyed."""

    def handler(signum: int, frame: FrameType | None) -> None:
        print(
            "aftershock: still cleaning up (faults, load, services); one moment", file=sys.stderr, flush=True
        )

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Progress:
    """Plain progress lines on stderr, relative to the run's start."""

    def __init__(self, t0_ns: int, stream: Any = None) -> None:
        self.t0_ns = t0_ns
        self.stream = stream or sys.stderr

    def __call__(self, event: RunEvent) -> None:
        text = _describe(event)
        if text:
            print(f"[{(event.t_ns - self.t0_ns) / 1e9:7.2f}s] {text}", file=self.stream, flush=True)


def _describe(e: RunEvent) -> str | None:
    d = e.data
    match e.kind:
        case "run_started":
            return f"run {d['run_id']}: scenario {d['scenario']} on {d['backend']} ({d['trials']} trial(s))"
        case "trial_started":
            return f"trial {d['trial']}: starting target {d['target']}"
        case "toxiproxy_up":
            return f"toxiproxy {d['version']} on {d['url']}"
        case "service_up":
            return f"service {d['service']} up ({d['address']})"
        case "load_started":
            return f"load: {d['users']} users for {d['duration']:g}s"
        case "fault_injected":
            return f"fault injected: {d['label']}"
        case "fault_cleared":
            return f"fault cleared: {d['label']}" + (" (forced)" if d.get("forced") else "")
        case "load_stopped":
            return "load stopped"
        case "audit":
            return f"audit: {d.get('summary', '')}"
        case "teardown_done":
            return "target torn down"
        case "interrupted":
            return f"interrupted: {d['reason']}; clearing faults and tearing down"
        case "error":
            return f"error: {d['message'].splitlines()[0]}"
    return None


class Orchestrator:
    def __init__(self, loaded: LoadedScenario, options: RunOptions, progress: bool = True) -> None:
        self.loaded = loaded
        self.options = options
        s = loaded.scenario
        overrides: dict[str, Any] = {}
        if options.backend:
            overrides["backend"] = options.backend
        if options.trials:
            overrides["trials"] = options.trials
        if options.seed is not None:
            overrides["seed"] = options.seed
        self.scenario: Scenario = s.model_copy(update=overrides) if overrides else s
        self.run_id = new_run_id()
        self.run_dir = (options.out_dir / self.run_id).resolve()
        self.t0_ns = now_ns()
        self.bus = EventBus()
        self.progress = progress
        self.trials: list[TrialRecord] = []
        self.policy = HealthPolicy(
            window=self.scenario.slo.window,
            step=self.scenario.slo.step,
            success_rate=self.scenario.slo.success_rate,
            p95_latency=self.scenario.slo.p95_latency,
            p99_latency=self.scenario.slo.p99_latency,
            hold=self.scenario.slo.hold,
        )

    # -- the run ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(self.run_dir / JOURNAL_NAME, self.t0_ns)
        self.bus.subscribe(journal)
        self.bus.subscribe(self._record)
        if self.progress:
            self.bus.subscribe(Progress(self.t0_ns))
        (self.run_dir / "scenario.yaml").write_text(
            self.loaded.path.read_text(encoding="utf-8"), encoding="utf-8"
        )
        error: BaseException | None = None
        interrupted = False
        swept = reaper.sweep()
        try:
            with signals_as_interrupts():
                self.bus.emit(
                    "run_started",
                    run_id=self.run_id,
                    scenario=self.scenario.name,
                    backend=self.scenario.backend,
                    trials=self.scenario.trials,
                    swept_leftovers=len(swept),
                    t0_ns=self.t0_ns,
                    seed=self.scenario.seed,
                )
                binary = find_toxiproxy()
                for trial in range(1, self.scenario.trials + 1):
                    self._run_trial(trial, binary)
        except (Interrupted, KeyboardInterrupt) as exc:
            interrupted = True
            error = exc if isinstance(exc, Interrupted) else Interrupted("interrupted by SIGINT")
        except AftershockError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected failure: still report what was measured
            error = exc
        with shielded():
            if error is not None and not interrupted:
                self.bus.emit("error", message=_flatten(error))
            results = self._results(interrupted, error)
            write_results(self.run_dir / "results.json", results)
            journal.close()
        if interrupted:
            code = ExitCode.INTERRUPTED
        elif error is not None:
            code = error.exit_code if isinstance(error, AftershockError) else ExitCode.INFRASTRUCTURE
        elif any("measurement_error" in t for t in results["trials"]):
            code = ExitCode.INFRASTRUCTURE
        else:
            code = ExitCode.OK if results["passed"] else ExitCode.EXPECTATION_MISSED
        return RunOutcome(self.run_id, self.run_dir, results, code, error)

    def _record(self, event: RunEvent) -> None:
        trial = self.trials[-1] if self.trials else None
        if trial is None:
            return
        if event.kind == "fault_injected":
            trial.injected[event.data["fault"]] = event.t_ns
        elif event.kind == "fault_cleared":
            trial.cleared[event.data["fault"]] = event.t_ns
        elif event.kind == "load_started":
            trial.load_started_ns = event.t_ns
        elif event.kind == "load_stopped":
            trial.load_stopped_ns = event.t_ns

    def _backend(self, trial_dir: Path, emit: Callable[..., Any]) -> Backend:
        if self.scenario.backend == "docker":
            raise InfrastructureError("the docker backend is not available yet; use backend: process")
        return ProcessBackend(
            self.loaded.target,
            self.loaded.target_dir,
            trial_dir,
            self.run_id,
            env_overrides=self.scenario.target.env,
            emit=emit,
        )

    def _run_trial(self, trial: int, binary: Path) -> None:
        s = self.scenario
        target = self.loaded.target
        trial_dir = self.run_dir / f"trial-{trial}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        record = TrialRecord(trial, trial_dir)
        self.trials.append(record)
        self.bus.emit("trial_started", trial=trial, target=target.name)
        td = Teardown()
        try:
            server = td.enter(
                "toxiproxy server", ToxiproxyServer(binary, trial_dir / "toxiproxy.log", seed=s.seed + trial)
            )
            self.bus.emit("toxiproxy_up", version=TOXIPROXY_VERSION, url=server.url, pid=server.pid)
            proxies = td.enter("proxies", LinkProxies(server, self.run_id))
            backend = td.enter("services", self._backend(trial_dir, self.bus.emit))
            links: dict[str, dict[str, str]] = {name: {} for name in target.services}
            for link in target.links:
                client, srv = target.link_ends(link)
                links[client][link] = proxies.create(link, backend.upstream_address(srv))
            for service in target.start_order():
                backend.start(service, links[service])
            locustfile = self.loaded.target_dir / (s.load.locustfile or target.locustfile)
            load = td.enter(
                "load",
                LoadProcess(
                    locustfile=locustfile,
                    host=backend.entry_url(target.entrypoint),
                    users=s.load.users,
                    spawn_rate=s.load.spawn_rate or float(s.load.users),
                    rate_per_user=s.load.rate_per_user,
                    request_timeout=s.load.request_timeout,
                    run_dir=trial_dir,
                    run_id=self.run_id,
                    seed=s.seed + trial,
                ),
            )
            ready_ns = load.wait_ready(timeout=s.startup_timeout)
            self.bus.emit(
                "load_started", t_ns=ready_ns, trial=trial, users=s.load.users, duration=s.load.duration
            )

            def make(fault: Fault, fault_id: str) -> LinkFault:
                return LinkFault(fault, proxies, fault_id)

            def check() -> None:
                if not load.running():
                    raise InfrastructureError(f"Locust stopped during the run; see {load.log_path}")

            timeline = td.enter("faults", FaultTimeline(s.faults, make, self.bus, trial))
            timeline.run(ready_ns, ready_ns + round(s.load.duration * 1e9), check)
            stop_ns = now_ns()
            load.stop()
            self.bus.emit("load_stopped", t_ns=stop_ns, trial=trial)
            if target.audit:
                audit = fetch_audit(backend.entry_url(target.entrypoint) + target.audit, s.drain_timeout)
                (trial_dir / "audit.json").write_text(json.dumps(audit, indent=1), encoding="utf-8")
                record.audit = audit
                count = audit.get("count") if isinstance(audit, dict) else None
                self.bus.emit(
                    "audit", trial=trial, summary=f"{count} records" if count is not None else "read"
                )
            td.close()  # the stack is empty after this; nothing runs twice
            self.bus.emit("teardown_done", trial=trial)
        except BaseException as exc:
            if isinstance(exc, Interrupted | KeyboardInterrupt):
                self.bus.emit("interrupted", reason=str(exc) or "SIGINT")
            with shielded():
                try:
                    td.close()
                except Exception as teardown_error:
                    exc.add_note(f"teardown also failed: {_flatten(teardown_error)}")
                self.bus.emit("teardown_done", trial=trial)
            raise

    # -- results ------------------------------------------------------------------------
    def _results(self, interrupted: bool, error: BaseException | None) -> dict[str, Any]:
        trials_out: list[dict[str, Any]] = []
        verdicts: list[Verdict] = []
        for rec in self.trials:
            try:
                trial_out, trial_verdicts = self._measure_trial(rec)
            except Exception as exc:  # never lose the run over a measurement failure
                trial_out, trial_verdicts = (
                    {"trial": rec.trial, "faults": [], "measurement_error": f"{type(exc).__name__}: {exc}"},
                    [],
                )
                error = error or exc
            trials_out.append(trial_out)
            verdicts.extend(trial_verdicts)
        complete = not interrupted and error is None and len(self.trials) == self.scenario.trials
        passed = (
            complete
            and all(v.passed for v in verdicts)
            and all(
                f["recovered"] or self.scenario.expect.recovery_time is None
                for t in trials_out
                for f in t["faults"]
            )
        )
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "scenario": self.scenario.name,
            "scenario_file": str(self.loaded.path),
            "description": self.scenario.description,
            "target": self.loaded.target.name,
            "backend": self.scenario.backend,
            "seed": self.scenario.seed,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "clock": CLOCK_NAME,
            "t0_ns": self.t0_ns,
            "complete": complete,
            "interrupted": interrupted,
            "error": None if error is None else _flatten(error),
            "passed": passed,
            "slo": self.scenario.slo.model_dump(mode="json"),
            "expect": self.scenario.expect.model_dump(mode="json", exclude_none=True),
            "trials": trials_out,
            "verdicts": [v.to_dict() for v in verdicts],
            "environment": {
                "aftershock": __version__,
                "python": platform.python_version(),
                "toxiproxy": TOXIPROXY_VERSION,
                "platform": platform.platform(),
                "pid": os.getpid(),
            },
        }

    def _rel(self, ns: int | None) -> float | None:
        return None if ns is None else (ns - self.t0_ns) / 1e9

    def _measure_trial(self, rec: TrialRecord) -> tuple[dict[str, Any], list[Verdict]]:
        samples = (
            load_samples(shard_paths(rec.dir), self.t0_ns) if shard_paths(rec.dir) else RequestSamples.empty()
        )
        counts = _outcome_counts(rec.dir)
        out: dict[str, Any] = {
            "trial": rec.trial,
            "load": {
                "started_at": self._rel(rec.load_started_ns),
                "stopped_at": self._rel(rec.load_stopped_ns),
                "requests": len(samples),
                **counts,
            },
            "faults": [],
        }
        verdicts: list[Verdict] = []
        start, stop = self._rel(rec.load_started_ns), self._rel(rec.load_stopped_ns)
        if start is not None and stop is None and len(samples):
            stop = float(samples.end.max())  # interrupted: observe what was recorded
            out["load"]["stopped_at"] = stop
        if start is None or stop is None:
            return out, verdicts
        timeline = evaluate_health(samples, self.policy, start, stop)
        injected = sorted(rec.injected.items(), key=lambda kv: kv[1])
        for n, (index, inj_ns) in enumerate(injected):
            fault = self.scenario.faults[index]
            clr_ns = rec.cleared.get(index)
            inj = (inj_ns - self.t0_ns) / 1e9
            clr = None if clr_ns is None else (clr_ns - self.t0_ns) / 1e9
            if inj > stop:
                continue  # injected after the observation ended (an interrupt): nothing to measure
            until = (injected[n + 1][1] - self.t0_ns) / 1e9 if n + 1 < len(injected) else stop
            cut = clr is None or clr > stop  # the observation ended while the fault was still active
            clear_seen = stop if cut or clr is None else clr
            m: FaultMeasurement = measure_fault(
                timeline, samples, inj, clear_seen, impact_until=min(until, stop)
            )
            entry = {
                "index": index,
                "kind": fault.kind,
                "target": fault.where,
                "label": fault.label,
                **m.to_dict(),
            }
            if cut:
                entry.update(
                    cleared_at=clr,
                    recovered=False,
                    recovered_at=None,
                    recovery_time=None,
                    note="the observation ended before the fault was cleared",
                )
                m = dataclasses.replace(m, recovered=False, recovered_at=None, recovery_time=None)
            out["faults"].append(entry)
            verdicts.extend(judge_fault(self.scenario.expect, rec.trial, fault.label, m))
        return out, verdicts


def _outcome_counts(trial_dir: Path) -> dict[str, int]:
    from harness.load.ledger import read_records

    counts = {"ok": 0, "fail": 0, "indeterminate": 0}
    for r in read_records(shard_paths(trial_dir)):
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts


def _flatten(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_flatten(e) for e in exc.exceptions)
    notes = getattr(exc, "__notes__", [])
    return str(exc) + ("".join(f"\n  {n}" for n in notes) if notes else "")


def fetch_audit(url: str, timeout: float) -> Any:
    try:
        resp = requests.get(url, timeout=timeout)
        resp.raise_for_status()
        return resp.json()
    except (requests.RequestException, json.JSONDecodeError) as exc:
        raise InfrastructureError(f"could not read the target's audit at {url}: {exc}") from None
