"""The run orchestrator: the only place that knows the order of a rehearsal's phases.

validate (done by the loader) → per trial: Toxiproxy up → proxies → services up → load →
fault timeline → load stopped → audit → teardown; then measure, judge, write results.

Safety: every resource is entered on a :class:`~harness.teardown.Teardown` stack that runs on
every exit path, newest first (faults cleared before load stops before services stop). SIGINT
and SIGTERM become :class:`~harness.errors.Interrupted`; what was measured is still written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from harness import __version__, reaper
from harness.analysis import AUDIT_FILE, SCENARIO_COPY, analyse_run, policy_of
from harness.clock import CLOCK_NAME, now_ns
from harness.compose.sweep import sweep_compose
from harness.docker.sweep import sweep_docker
from harness.errors import AftershockError, ExitCode, InfrastructureError, Interrupted
from harness.events import EventBus, RunEvent
from harness.faults.kinds import build_fault
from harness.faults.timeline import FaultTimeline
from harness.files import atomic_write_text
from harness.journal import JOURNAL_NAME, Journal
from harness.load.control import LoadControl
from harness.load.runner import LoadProcess
from harness.measure.audit import Audit, AuditSchemaError, outstanding, validate_audit
from harness.measure.live import LiveHealth, LoadTicker
from harness.report import write_reports
from harness.report.results import write_results
from harness.rollback import RollbackController
from harness.scenario.loader import LoadedScenario
from harness.scenario.models import Fault, Scenario
from harness.session import TargetSession, mode_env
from harness.targets.backend import Backend
from harness.teardown import Teardown
from harness.toxiproxy.provision import TOXIPROXY_VERSION, find_toxiproxy


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("reports")
    backend: str | None = None
    trials: int | None = None
    seed: int | None = None
    mode: str | None = None
    load_workers: int | None = None


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    results: dict[str, Any]
    exit_code: ExitCode
    error: BaseException | None = None


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
    """Progress on stderr, relative to the run's start: one line per phase; during load a status
    line that updates in place on a terminal and is printed every 5 s otherwise (CI logs)."""

    def __init__(self, t0_ns: int, stream: Any = None) -> None:
        self.t0_ns = t0_ns
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._status = False

    def __call__(self, event: RunEvent) -> None:
        stamp = f"[{(event.t_ns - self.t0_ns) / 1e9:7.2f}s]"
        if event.kind == "load_progress":
            d = event.data
            faults = ", ".join(d["faults"]) or "no fault"
            text = (
                f"{stamp} load {d['elapsed']:4.0f}/{d['total']:g}s  {d['rps']:6.1f} req/s"
                f"  {100 * d['error_rate']:5.1f}% failing  ({faults})"
            )
            if self.live:
                print("\r\x1b[2K" + text, end="", file=self.stream, flush=True)
                self._status = True
            else:
                print(text, file=self.stream, flush=True)
            return
        line = _describe(event)
        if line:
            prefix = "\r\x1b[2K" if self._status else ""
            self._status = False
            print(f"{prefix}{stamp} {line}", file=self.stream, flush=True)


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
        case "deploy_started":
            return f"deploying {d['service']} {d['version']} (was {d['previous']})"
        case "rollback_triggered":
            return f"rollback triggered ({d['action']}): {d['reason']}"
        case "rollback_action_done":
            return "rollback action done" if d["ok"] else f"rollback action FAILED: {d['error']}"
        case "rollback_confirmed":
            return f"rolled-back version confirmed: {d['how']}"
        case "rollback_unconfirmed":
            return f"rolled-back version NOT confirmed: {d['why']}"
        case "drained":
            return f"drained in {d['waited']:.1f}s ({d['pending']} still pending)"
        case "audit":
            return f"audit: {d.get('summary', '')}"
        case "teardown_done":
            return "target torn down"
        case "report":
            return f"writing reports: {d['path']}"
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
        if options.load_workers:
            overrides["load"] = s.load.model_copy(update={"workers": options.load_workers})
        if options.mode:
            overrides["target"] = s.target.model_copy(update={"mode": options.mode})
        self.scenario: Scenario = s.model_copy(update=overrides) if overrides else s
        self.run_id = new_run_id()
        self.run_dir = (options.out_dir / self.run_id).resolve()
        self.t0_ns = now_ns()
        self.bus = EventBus()
        self.progress = progress
        self.live_terminal = progress and sys.stderr.isatty()
        self.trials_started = 0

    # -- the run ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(self.run_dir / JOURNAL_NAME, self.t0_ns)
        self.bus.subscribe(journal)
        if self.progress:
            self.bus.subscribe(Progress(self.t0_ns))
        (self.run_dir / SCENARIO_COPY).write_text(
            self.loaded.path.read_text(encoding="utf-8"), encoding="utf-8"
        )
        error: BaseException | None = None
        interrupted = False
        swept = reaper.sweep()
        try:
            swept_docker = sweep_compose() + sweep_docker()  # whole Compose projects first
        except ExceptionGroup as exc:  # best effort here; `aftershock cleanup` reports such failures
            swept_docker = []
            print(f"aftershock: could not remove docker leftovers: {_flatten(exc)}", file=sys.stderr)
        try:
            with signals_as_interrupts():
                self.bus.emit(
                    "run_started",
                    run_id=self.run_id,
                    scenario=self.scenario.name,
                    backend=self.scenario.backend,
                    trials=self.scenario.trials,
                    swept_leftovers=len(swept) + len(swept_docker),
                    t0_ns=self.t0_ns,
                    seed=self.scenario.seed,
                    scenario_file=str(self.loaded.path.resolve()),
                    target=self.loaded.target.name,
                    mode=self.scenario.target.mode,
                    consistency=(
                        self.loaded.target.consistency.model_dump()
                        if self.loaded.target.consistency
                        else None
                    ),
                    wallclock=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    clock=CLOCK_NAME,
                    environment={
                        "aftershock": __version__,
                        "python": platform.python_version(),
                        "toxiproxy": TOXIPROXY_VERSION,
                        "platform": platform.platform(),
                        "pid": os.getpid(),
                    },
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
            self.bus.emit(
                "run_finished", complete=error is None and not interrupted, trials_run=self.trials_started
            )
            journal.close()
            results, analyses = analyse_run(self.run_dir)
            write_results(self.run_dir / "results.json", results)
            if self.progress:
                self.bus.emit("report", path=str(self.run_dir / "report.html"))
            try:
                write_reports(self.run_dir, results, analyses)
            except ExceptionGroup as exc:  # results.json and the verdict stand
                print(f"aftershock: {exc}: {_flatten(exc)}", file=sys.stderr, flush=True)
        if interrupted:
            code = ExitCode.INTERRUPTED
        elif error is not None:
            code = error.exit_code if isinstance(error, AftershockError) else ExitCode.INFRASTRUCTURE
        elif results["error"]:
            code = ExitCode.INFRASTRUCTURE
        else:
            code = ExitCode.OK if results["passed"] else ExitCode.EXPECTATION_MISSED
        return RunOutcome(self.run_id, self.run_dir, results, code, error)

    def env_overrides(self) -> dict[str, dict[str, str]]:
        """The target mode's environment, then the scenario's own (which wins)."""
        return mode_env(self.loaded.target, self.scenario.target.mode, self.scenario.target.env)

    def _run_trial(self, trial: int, binary: Path) -> None:
        s = self.scenario
        target = self.loaded.target
        trial_dir = self.run_dir / f"trial-{trial}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        self.trials_started += 1
        self.bus.emit("trial_started", trial=trial, target=target.name)
        td = Teardown()
        try:
            session = td.enter(
                "target",
                TargetSession(
                    target,
                    self.loaded.target_dir,
                    trial_dir,
                    self.run_id,
                    backend=s.backend,
                    env_overrides=self.env_overrides(),
                    bus=self.bus,
                    seed=s.seed + trial,
                    toxiproxy_binary=binary,
                ),
            )
            proxies, backend = session.proxies, session.backend
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
                    workers=s.load.workers,
                    run_dir=trial_dir,
                    run_id=self.run_id,
                    seed=s.seed + trial,
                ),
            )
            ready_ns = load.wait_ready(timeout=s.startup_timeout)
            self.bus.emit(
                "load_started", t_ns=ready_ns, trial=trial, users=s.load.users, duration=s.load.duration
            )

            control = LoadControl(trial_dir)

            def make(fault: Fault, fault_id: str) -> AbstractContextManager[Any]:
                return build_fault(
                    fault, fault_id, proxies=proxies, backend=backend, target=target, control=control
                )

            timeline = td.enter("faults", FaultTimeline(s.faults, make, self.bus, trial))
            rollback = None
            if s.rollback is not None:
                rollback = RollbackController(
                    s.rollback,
                    backend=backend,
                    bus=self.bus,
                    live=LiveHealth(trial_dir, policy_of(s)),
                    timeline=timeline,
                    load_start_ns=ready_ns,
                    workdir=self.loaded.path.resolve().parent,
                    run_id=self.run_id,
                    trial=trial,
                    services=list(target.services),
                )

            ticker = LoadTicker(trial_dir, interval=1.0 if self.live_terminal else 5.0)

            def check() -> None:
                if not load.running():
                    raise InfrastructureError(f"Locust stopped during the run; see {load.log_path}")
                if rollback is not None:
                    rollback.tick()
                now = now_ns()
                rates = ticker.due(now)
                if rates is not None:
                    elapsed = (now - ready_ns) / 1e9
                    self.bus.emit(
                        "load_progress",
                        trial=trial,
                        elapsed=elapsed,
                        total=s.load.duration,
                        rps=rates[0],
                        error_rate=rates[1],
                        faults=[s.faults[i].label for i in timeline.active()],
                    )

            timeline.run(ready_ns, ready_ns + round(s.load.duration * 1e9), check)
            stop_ns = load.drain()  # no request starts after stop_ns; every one sent is in the ledger
            self.bus.emit("load_stopped", t_ns=stop_ns, trial=trial)
            if target.audit:
                self._drain_and_audit(backend, trial, trial_dir)
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

    def _drain_and_audit(self, backend: Backend, trial: int, trial_dir: Path) -> None:
        """Wait (bounded) until the target reports no pending work, then keep its final state."""
        target, timeout = self.loaded.target, self.scenario.drain_timeout
        contract = target.consistency
        started = now_ns()
        deadline = started + round(timeout * 1e9)
        while True:
            docs: dict[str, Any] = {}
            audits: dict[str, Audit] = {}
            for source in target.audit:
                url = backend.entry_url(source.service) + source.path
                docs[source.service] = fetch_audit(url, timeout=max(1.0, min(timeout, 30.0)))
                try:  # validated before anything is computed from it (docs/audit.md)
                    audits[source.service] = validate_audit(docs[source.service], url)
                except AuditSchemaError:
                    atomic_write_text(trial_dir / AUDIT_FILE, json.dumps(docs, indent=1))
                    raise
            pending = outstanding(  # work accepted and not finished, each unit once
                audits,
                contract.primary if contract else None,
                contract.final_status if contract else None,
            )
            if pending == 0 or now_ns() >= deadline:
                break
            time.sleep(0.2)
        atomic_write_text(trial_dir / AUDIT_FILE, json.dumps(docs, indent=1))
        effects = sum(len(a.effects) for a in audits.values())
        self.bus.emit("drained", trial=trial, waited=(now_ns() - started) / 1e9, pending=pending)
        self.bus.emit("audit", trial=trial, summary=f"{effects} effects, {pending} still pending")


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
