"""The run orchestrator: the only place that knows the order of a rehearsal's phases.

validate (done by the loader) → per trial: Toxiproxy up → proxies → services up → load →
fault timeline → load stopped → audit → teardown; then measure, judge, write results.

Safety: every resource is entered on a :class:`~harness.teardown.Teardown` stack that runs on
every exit path, newest first (faults cleared before load stops before services stop). SIGINT
and SIGTERM become :class:`~harness.errors.Interrupted`; what was measured is still written.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import reaper
from harness.analysis import analyse_run, policy_of
from harness.as_run import apply_overrides
from harness.clock import now_ns
from harness.compose.sweep import sweep_engine
from harness.drain import stop_and_audit
from harness.errors import Aborted, AftershockError, ExitCode, Interrupted
from harness.events import (
    EventBus,
    LoadStarted,
    PhaseStarted,
    ReportWriting,
    RunError,
    RunFinished,
    RunInterrupted,
    TeardownDone,
    TrialStarted,
)
from harness.faults.kinds import build_fault
from harness.faults.timeline import FaultTimeline
from harness.guards.trial import TrialGuards, trial_guards
from harness.journal import JOURNAL_NAME, Journal
from harness.load.control import LoadControl
from harness.load.runner import LoadProcess
from harness.load_status import load_status
from harness.measure.live import LiveHealth
from harness.monitoring.trial import TrialMonitoring
from harness.progress import Progress
from harness.report import write_reports
from harness.results import Results, write_results
from harness.rollback import RollbackController
from harness.run_record import SCENARIO_COPY
from harness.run_started import run_started
from harness.scenario.loader import LoadedScenario
from harness.scenario.models import Fault, Scenario
from harness.session import TargetSession, mode_env
from harness.signals import shielded, signals_as_interrupts
from harness.targets.backend import Backend
from harness.teardown import Teardown
from harness.toxiproxy.provision import find_toxiproxy


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
                started = run_started(
                    self.run_id,
                    self.loaded,
                    self.scenario,
                    t0_ns=self.t0_ns,
                    overrides=self.overrides,
                    env=self.env_overrides(),
                    swept=swept,
                )
                self.bus.publish(started)
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
            swept += len(sweep_engine())  # one engine listing; whole Compose projects first
        except Exception as exc:  # a backstop, never the run's end: `aftershock cleanup` reports it
            first = _flatten(exc).strip().splitlines()[:1]
            print(f"aftershock: could not remove docker leftovers: {''.join(first)}", file=sys.stderr)
        return swept

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
            threading.Thread(target=_import_report_writers, daemon=True).start()
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
                remote_workers=0 if s.load.master is None else s.load.master.remote_workers,
                master_bind="127.0.0.1" if s.load.master is None else s.load.master.bind,
                master_port=None if s.load.master is None else s.load.master.port,
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
        for offset in load.clock_offsets(trial):  # remote workers: their clocks at the start
            self.bus.publish(offset)
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
        rollback = self._rollback(trial, trial_dir, backend, timeline)
        if rollback is not None:
            guards.append(lambda now: rollback.tick())
        status = load_status(
            self.bus,
            trial,
            trial_dir,
            timeline,
            [f.label for f in s.faults],
            ready_ns=ready_ns,
            duration=s.load.duration,
            live_terminal=self.live_terminal,
        )
        guards.append(status)
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

    def _rollback(
        self, trial: int, trial_dir: Path, backend: Backend, timeline: FaultTimeline
    ) -> RollbackController | None:
        """The scenario's rollback, scheduled on the timeline (None when it states none)."""
        s = self.scenario
        if s.rollback is None:
            return None
        rollback = RollbackController(
            s.rollback,
            backend=backend,
            bus=self.bus,
            live=LiveHealth(trial_dir, policy_of(s)),
            timeline=timeline,
            workdir=self.loaded.path.resolve().parent,
            run_id=self.run_id,
            trial=trial,
            services=list(self.loaded.target.services),
        )
        rollback.schedule(timeline)
        return rollback

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

    def _stop_and_audit(
        self, trial: int, trial_dir: Path, session: TargetSession, load: LoadProcess, guards: TrialGuards
    ) -> None:
        """Stop the load, then drain and audit (:func:`harness.drain.stop_and_audit`)."""
        stop_and_audit(
            self.bus,
            trial,
            trial_dir,
            load,
            guards,
            backend=session.backend,
            target=self.loaded.target,
            drain_timeout=self.scenario.drain_timeout,
        )


Guard = Callable[[int], None]
"""Run at least every 50 ms while the timeline plays, given the run clock; raises to stop the trial."""


def _import_report_writers() -> None:
    """Import matplotlib and the report writers (~0.5 s of CPU) while the trial is torn down: the
    harness only waits on processes there, and nothing is measured any more. A failure here is
    left to the real import in :func:`write_reports`, which reports it."""
    try:
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401

        import harness.report.html
        import harness.report.timeline_plot  # noqa: F401
    except Exception:
        pass


def _flatten(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_flatten(e) for e in exc.exceptions)
    notes = getattr(exc, "__notes__", [])
    return str(exc) + ("".join(f"\n  {n}" for n in notes) if notes else "")
