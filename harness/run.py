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
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness import __version__, reaper
from harness.analysis import AUDIT_FILE, analyse_run, policy_of
from harness.as_run import apply_overrides
from harness.clock import CLOCK_NAME, now_ns
from harness.compose.sweep import sweep_compose
from harness.docker.sweep import sweep_docker
from harness.errors import Aborted, AftershockError, ExitCode, InfrastructureError, Interrupted
from harness.events import (
    Audited,
    Drained,
    EventBus,
    LoadProgress,
    LoadStarted,
    LoadStopped,
    PhaseStarted,
    ReportWriting,
    RunError,
    RunFinished,
    RunInterrupted,
    RunStarted,
    TeardownDone,
    TrialStarted,
)
from harness.faults.kinds import build_fault
from harness.faults.timeline import FaultTimeline
from harness.files import atomic_write_text
from harness.guards.trial import TrialGuards, trial_guards
from harness.journal import JOURNAL_NAME, Journal
from harness.load.control import LoadControl
from harness.load.runner import LoadProcess
from harness.measure.audit import Audit, AuditSchemaError, outstanding, validate_audit
from harness.measure.live import LiveHealth, LoadTicker
from harness.monitoring.trial import TrialMonitoring
from harness.progress import Progress
from harness.report import write_reports
from harness.results import Results, write_results
from harness.rollback import RollbackController
from harness.run_record import SCENARIO_COPY
from harness.scenario.loader import LoadedScenario
from harness.scenario.models import Fault, Scenario
from harness.session import TargetSession, mode_env
from harness.signals import shielded, signals_as_interrupts
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

    def overrides(self) -> dict[str, Any]:
        """What the command line changed in the scenario, by name (journaled in run_started)."""
        given = {
            "backend": self.backend,
            "trials": self.trials,
            "seed": self.seed,
            "mode": self.mode,
            "load_workers": self.load_workers,
        }
        return {k: v for k, v in given.items() if v is not None and (k == "seed" or v)}


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    results: Results
    exit_code: ExitCode
    error: BaseException | None = None


def exit_code(results: Results, error: BaseException | None, interrupted: bool) -> ExitCode:
    """0 met, 1 missed, 3 harness/infrastructure, 4 aborted, 130 interrupted (an error's own code wins)."""
    if interrupted:
        return ExitCode.INTERRUPTED
    if error is not None:
        return error.exit_code if isinstance(error, AftershockError) else ExitCode.INFRASTRUCTURE
    return results.exit_code()


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class Orchestrator:
    def __init__(self, loaded: LoadedScenario, options: RunOptions, progress: bool = True) -> None:
        self.loaded = loaded
        self.options = options
        self.overrides = options.overrides()
        self.scenario: Scenario = apply_overrides(loaded.scenario, self.overrides)
        self.run_id = new_run_id()
        self.run_dir = (options.out_dir / self.run_id).resolve()
        self.t0_ns = now_ns()
        self.bus = EventBus()
        self.progress = progress
        self.live_terminal = progress and sys.stderr.isatty()
        self.trials_started = 0

    # -- the run ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Every trial, then results and reports, whatever happened; the exit code follows."""
        journal = self._open_run_dir()
        swept = self._sweep()
        error: BaseException | None = None
        interrupted = aborted = False
        try:
            with signals_as_interrupts():
                self.bus.publish(self._run_started(swept))
                binary = find_toxiproxy()
                for trial in range(1, self.scenario.trials + 1):
                    if aborted := self._run_trial(trial, binary):
                        break  # an abort ends the rehearsal: no later trial runs
        except (Interrupted, KeyboardInterrupt) as exc:
            interrupted = True
            error = exc if isinstance(exc, Interrupted) else Interrupted("interrupted by SIGINT")
        except AftershockError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected failure: still report what was measured
            error = exc
        with shielded():
            results = self._finish(journal, error, interrupted, aborted)
        code = exit_code(results, error, interrupted)
        return RunOutcome(self.run_id, self.run_dir, results, code, error)

    def _open_run_dir(self) -> Journal:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(self.run_dir / JOURNAL_NAME, self.t0_ns)
        self.bus.subscribe(journal)
        if self.progress:
            self.bus.subscribe(Progress(self.t0_ns))
        (self.run_dir / SCENARIO_COPY).write_text(
            self.loaded.path.read_text(encoding="utf-8"), encoding="utf-8"
        )
        return journal

    @staticmethod
    def _sweep() -> int:
        """Remove what dead runs left behind; how many leftovers there were."""
        swept = len(reaper.sweep())
        try:
            swept += len(sweep_compose()) + len(sweep_docker())  # whole Compose projects first
        except ExceptionGroup as exc:  # best effort here; `aftershock cleanup` reports such failures
            print(f"aftershock: could not remove docker leftovers: {_flatten(exc)}", file=sys.stderr)
        return swept

    def _run_started(self, swept: int) -> RunStarted:
        """The scenario as actually run: what the analysis and every report restate."""
        s, target = self.scenario, self.loaded.target
        return RunStarted(
            run_id=self.run_id,
            scenario=s.name,
            backend=s.backend,
            trials=s.trials,
            seed=s.seed,
            t0_ns=self.t0_ns,
            mode=s.target.mode,
            load_workers=s.load.workers,
            overrides=self.overrides,
            env=self.env_overrides(),
            swept_leftovers=swept,
            scenario_file=str(self.loaded.path.resolve()),
            target=target.name,
            consistency=target.consistency.model_dump() if target.consistency else None,
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

    def _finish(
        self, journal: Journal, error: BaseException | None, interrupted: bool, aborted: bool = False
    ) -> Results:
        """Journal the end, analyse the run dir, write results.json and the reports."""
        if error is not None and not interrupted:
            self.bus.publish(RunError(message=_flatten(error)))
        complete = error is None and not interrupted and not aborted
        self.bus.publish(RunFinished(complete=complete, trials_run=self.trials_started))
        journal.close()
        if self.progress:
            self.bus.publish(PhaseStarted(what="analysing the journal and the ledgers"))
        results, analyses = analyse_run(self.run_dir)
        write_results(self.run_dir / "results.json", results)
        if self.progress:
            self.bus.publish(ReportWriting(path=str(self.run_dir / "report.html")))
        try:
            write_reports(self.run_dir, results, analyses)
        except ExceptionGroup as exc:  # results.json and the verdict stand
            print(f"aftershock: {exc}: {_flatten(exc)}", file=sys.stderr, flush=True)
        return results

    def env_overrides(self) -> dict[str, dict[str, str]]:
        """The target mode's environment, then the scenario's own (which wins)."""
        return mode_env(self.loaded.target, self.scenario.target.mode, self.scenario.target.env)

    def _run_trial(self, trial: int, binary: Path) -> bool:
        """One trial, in named steps: start target, start load, play, stop and audit. True if an
        abort bound ended it (the rehearsal stops there).

        Every resource goes on a :class:`Teardown` stack that runs newest first on every exit
        path (faults cleared before load stops before services stop). The trial's guards watch
        from the first fault to the audit: a dead Toxiproxy or Locust raises HarnessFailure."""
        trial_dir = self.run_dir / f"trial-{trial}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        self.trials_started += 1
        self.bus.publish(TrialStarted(trial=trial, target=self.loaded.target.name))
        td = Teardown()
        try:
            session = self._start_target(td, trial, trial_dir, binary)
            monitoring = self._start_monitoring(td, trial, trial_dir, session)
            load, ready_ns = self._start_load(td, trial, trial_dir, session)
            control = LoadControl(trial_dir)
            guards = self._guards(trial, trial_dir, session, load, ready_ns)
            with guards:
                aborted = self._play(
                    td, trial, trial_dir, session, load, control, ready_ns, guards, monitoring
                )
                self._stop_and_audit(trial, trial_dir, session, load, guards)
            if monitoring is not None:
                monitoring.settle()  # alerts still firing get `resolve_wait` to resolve
            td.close()  # the stack is empty after this; nothing runs twice
            self.bus.publish(TeardownDone(trial=trial))
            return aborted
        except BaseException as exc:
            if isinstance(exc, Interrupted | KeyboardInterrupt):
                self.bus.publish(RunInterrupted(reason=str(exc) or "SIGINT"))
            with shielded():
                try:
                    td.close()
                except Exception as teardown_error:
                    exc.add_note(f"teardown also failed: {_flatten(teardown_error)}")
                self.bus.publish(TeardownDone(trial=trial))
            raise

    def _start_target(self, td: Teardown, trial: int, trial_dir: Path, binary: Path) -> TargetSession:
        """Toxiproxy, one proxy per link, every service up and healthy (a fresh target per trial)."""
        s = self.scenario
        session = TargetSession(
            self.loaded.target,
            self.loaded.target_dir,
            trial_dir,
            self.run_id,
            backend=s.backend,
            env_overrides=self.env_overrides(),
            bus=self.bus,
            seed=s.seed + trial,
            toxiproxy_binary=binary,
        )
        return td.enter("target", session)

    def _start_monitoring(
        self, td: Teardown, trial: int, trial_dir: Path, session: TargetSession
    ) -> TrialMonitoring | None:
        """The target's own Prometheus and Alertmanager, when the scenario names them."""
        s = self.scenario
        if s.monitoring is None:
            return None
        monitoring = TrialMonitoring(
            s.monitoring,
            mode=s.target.mode,
            target_dir=self.loaded.target_dir,
            backend=session.backend,
            run_id=self.run_id,
            trial_dir=trial_dir,
            bus=self.bus,
            trial=trial,
        )
        return td.enter("monitoring", monitoring)

    def _start_load(
        self, td: Teardown, trial: int, trial_dir: Path, session: TargetSession
    ) -> tuple[LoadProcess, int]:
        """Locust in its own process(es), writing the ledger; returns it and the instant load began."""
        s, target = self.scenario, self.loaded.target
        load = td.enter(
            "load",
            LoadProcess(
                locustfile=self.loaded.target_dir / (s.load.locustfile or target.locustfile),
                host=session.backend.entry_url(target.entrypoint),
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
        self.bus.publish(
            PhaseStarted(
                trial=trial,
                what=f"starting the load generator ({s.load.users} users, {s.load.workers} worker(s)); "
                f"waiting until every user runs (up to {s.startup_timeout:g} s)",
            )
        )
        ready_ns = load.wait_ready(timeout=s.startup_timeout)
        self.bus.publish(
            LoadStarted(t_ns=ready_ns, trial=trial, users=s.load.users, duration=s.load.duration)
        )
        return load, ready_ns

    def _play(
        self,
        td: Teardown,
        trial: int,
        trial_dir: Path,
        session: TargetSession,
        load: LoadProcess,
        control: LoadControl,
        ready_ns: int,
        trial_guards: TrialGuards,
        monitoring: TrialMonitoring | None = None,
    ) -> bool:
        """The fault timeline (the trial's one scheduler), with the guards running while it plays.
        True if an abort bound was crossed: every fault is then cleared at once."""
        s, target = self.scenario, self.loaded.target
        proxies, backend = session.proxies, session.backend

        def make(fault: Fault, fault_id: str) -> AbstractContextManager[Any]:
            return build_fault(
                fault, fault_id, proxies=proxies, backend=backend, target=target, control=control
            )

        timeline = td.enter("faults", FaultTimeline(s.faults, make, self.bus, trial))
        guards: list[Guard] = [trial_guards.check]  # the watchdog, then the abort bounds
        if s.rollback is not None:
            rollback = RollbackController(
                s.rollback,
                backend=backend,
                bus=self.bus,
                live=LiveHealth(trial_dir, policy_of(s)),
                timeline=timeline,
                workdir=self.loaded.path.resolve().parent,
                run_id=self.run_id,
                trial=trial,
                services=list(target.services),
            )
            rollback.schedule(timeline)
            guards.append(lambda now: rollback.tick())
        guards.append(self._progress_guard(trial, trial_dir, timeline, ready_ns))
        if monitoring is not None:  # alerts go into the journal as they arrive
            pump = monitoring.pump

            def journal_alerts(now: int) -> None:
                pump()

            guards.append(journal_alerts)

        def check() -> None:
            now = now_ns()
            for guard in guards:
                guard(now)

        try:
            timeline.run(ready_ns, ready_ns + round(s.load.duration * 1e9), check)
        except Aborted:
            timeline.clear_all()  # every fault at once; then the load stops
            return True
        return False

    def _guards(
        self, trial: int, trial_dir: Path, session: TargetSession, load: LoadProcess, ready_ns: int
    ) -> TrialGuards:
        """The watchdog on this trial's Toxiproxy and Locust, and the scenario's abort bounds."""
        return trial_guards(
            self.scenario,
            bus=self.bus,
            trial=trial,
            t0_ns=self.t0_ns,
            server=session.server,
            load=load,
            trial_dir=trial_dir,
            load_start_ns=ready_ns,
            urls={  # every HTTP service (only those answer on the host, on every backend)
                name: session.backend.entry_url(name)
                for name, svc in self.loaded.target.services.items()
                if svc.health is not None and svc.health.http
            },
            workdir=self.loaded.path.resolve().parent,
            run_id=self.run_id,
        )

    def _progress_guard(self, trial: int, trial_dir: Path, timeline: FaultTimeline, ready_ns: int) -> Guard:
        """The live load status (req/s, share failing, active faults) as a progress event."""
        s = self.scenario
        ticker = LoadTicker(trial_dir, interval=1.0 if self.live_terminal else 5.0)

        def tick(now: int) -> None:
            rates = ticker.due(now)
            if rates is not None:
                self.bus.publish(
                    LoadProgress(
                        trial=trial,
                        elapsed=(now - ready_ns) / 1e9,
                        total=s.load.duration,
                        rps=rates[0],
                        error_rate=rates[1],
                        faults=[s.faults[i].label for i in timeline.active()],
                    )
                )

        return tick

    def _stop_and_audit(
        self,
        trial: int,
        trial_dir: Path,
        session: TargetSession,
        load: LoadProcess,
        guards: TrialGuards,
    ) -> None:
        """Stop the load, then drain and audit. No request starts after the journaled stop
        instant, and every request sent is in the ledger before it closes. The guards stop
        watching Locust first: from here its exit is ours."""
        guards.stop_aborting()
        guards.release("locust")
        self.bus.publish(
            PhaseStarted(trial=trial, what="stopping the load: waiting for the requests in flight to land")
        )
        stop_ns = load.drain()
        self.bus.publish(LoadStopped(t_ns=stop_ns, trial=trial))
        if self.loaded.target.audit:
            self.bus.publish(
                PhaseStarted(
                    trial=trial,
                    what=f"draining the target's queued work (up to {self.scenario.drain_timeout:g} s), "
                    "then reading its audit",
                )
            )
            self._drain_and_audit(session.backend, trial, trial_dir)

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
        self.bus.publish(Drained(trial=trial, waited=(now_ns() - started) / 1e9, pending=pending))
        self.bus.publish(Audited(trial=trial, summary=f"{effects} effects, {pending} still pending"))


Guard = Callable[[int], None]
"""Run at least every 50 ms while the timeline plays, given the run clock; raises to stop the trial."""


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
