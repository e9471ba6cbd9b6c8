"""The target's monitoring during one trial: what the orchestrator enters, pumps and settles.

The orchestrator's thread is the journal's only writer: :meth:`TrialMonitoring.pump` (called from
the run's tick, every few tens of milliseconds) turns each alert received since the last call into
an ``alert`` event stamped with its arrival instant. After the audit, :meth:`settle` waits (up to
``resolve_wait``) for the alerts still firing to resolve, so ``time_to_resolve`` can be measured.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.events import EventBus
from harness.monitoring.config import ScrapeTarget
from harness.monitoring.events import AlertReceived, MonitoringStarted, MonitoringStopped
from harness.monitoring.stack import MonitoringStack
from harness.resource import Resource
from harness.scenario.monitoring import Monitoring
from harness.targets.backend import Backend


class TrialMonitoring(Resource):
    def __init__(
        self,
        settings: Monitoring,
        *,
        mode: str | None,
        target_dir: Path,
        backend: Backend,
        run_id: str,
        trial_dir: Path,
        bus: EventBus,
        trial: int,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.target_dir = target_dir
        self.backend = backend
        self.run_id = run_id
        self.trial_dir = trial_dir
        self.bus = bus
        self.trial = trial
        self.stack: MonitoringStack | None = None

    def start(self) -> None:
        prom = self.settings.prometheus
        rules = prom.rules_for(self.mode)
        targets = [
            ScrapeTarget(s, self.backend.entry_url(s).removeprefix("http://").rstrip("/"))
            for s in prom.scrape
        ]
        stack = MonitoringStack(
            run_id=self.run_id,
            work_dir=self.trial_dir / "monitoring",
            targets=targets,
            rule_files=[self.target_dir / r for r in rules],
            metrics_path=prom.metrics_path,
            interval=prom.interval,
            start_timeout=self.settings.start_timeout,
        )
        self.stack = stack.__enter__()  # MonitoringStack stops what it started if this fails
        assert stack.prometheus is not None and stack.alertmanager is not None
        self.bus.publish(
            MonitoringStarted(
                trial=self.trial,
                prometheus=stack.prometheus.url,
                alertmanager=stack.alertmanager.url,
                scrape={t.service: t.address for t in targets},
                rules=rules,
                runbook_root=str(self.target_dir.resolve()),
                interval=prom.interval,
                escalate_after=self.settings.escalate_after,
            )
        )

    def pump(self) -> int:
        """Journal every alert received since the last call; how many there were."""
        if self.stack is None:
            return 0
        got = self.stack.drain()
        for a in got:
            self.bus.publish(AlertReceived(t_ns=a.t_ns, trial=self.trial, **a.event_data()))
        return len(got)

    def settle(self) -> None:
        """Wait, bounded by ``resolve_wait``, until no alert is firing (journaling as they come)."""
        deadline = time.monotonic() + self.settings.resolve_wait
        while True:
            self.pump()
            if self.stack is None or not self.stack.firing() or time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        if self.stack is None:
            return
        try:
            self.pump()
        finally:
            self.stack.stop()
            still = [a.alertname for a in self.stack.firing()]
            self.stack = None
            self.bus.publish(MonitoringStopped(trial=self.trial, still_firing=still))
