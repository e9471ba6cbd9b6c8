"""The rollback policy in action: decide when to roll back, do it, confirm the version.

Manual: at a stated instant, scheduled on the trial's one scheduler (the fault timeline, see
:meth:`RollbackController.schedule`). Automatic: once the SLO has been violated for
``after_unhealthy`` without a break (watched live from the ledger, :meth:`RollbackController.tick`
runs as a guard while the timeline plays), the way a deploy pipeline or an on-call runbook
would. Every step is journaled (``rollback_triggered``, ``rollback_action_done``,
``rollback_confirmed``), and the measurement comes from those instants afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from harness.clock import now_ns
from harness.errors import InfrastructureError
from harness.events import (
    EventBus,
    RollbackActionDone,
    RollbackConfirmed,
    RollbackTriggered,
    RollbackUnconfirmed,
)
from harness.faults.timeline import FaultTimeline
from harness.measure.live import LiveHealth
from harness.reaper import labelled_env
from harness.scenario.models import DeployFault, Rollback
from harness.targets.backend import Backend


def matches(expected: Any, actual: Any) -> bool:
    """Partial, nested match: every key of ``expected`` is in ``actual`` with a matching value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


class RollbackController:
    def __init__(
        self,
        spec: Rollback,
        *,
        backend: Backend,
        bus: EventBus,
        live: LiveHealth,
        timeline: FaultTimeline,
        workdir: Path,
        run_id: str,
        trial: int,
        services: list[str],
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.bus = bus
        self.live = live
        self.timeline = timeline
        self.workdir = workdir
        self.run_id = run_id
        self.trial = trial
        self.done = False
        self.deploys = [i for i, f in enumerate(timeline.faults) if isinstance(f, DeployFault)]
        self.services = list(services)

    def schedule(self, timeline: FaultTimeline) -> None:
        """A manual rollback runs at its instant on the timeline's schedule (one scheduler)."""
        if self.spec.trigger == "manual" and self.spec.at is not None:
            at = self.spec.at
            timeline.at(at, lambda scheduled_ns: self.roll_back(f"manual rollback at {at:g}s", scheduled_ns))

    def tick(self) -> None:
        """A guard run while the timeline plays: an automatic rollback when the policy says so (once)."""
        if self.done or self.spec.trigger == "manual":
            return
        now = now_ns()
        self.live.update(now)
        armed = not self.deploys or any(i in self.timeline.active() for i in self.deploys)
        violated = self.live.unhealthy_for(now)
        if armed and violated >= self.spec.after_unhealthy:
            self.roll_back(f"SLO violated for {violated:.1f}s (threshold {self.spec.after_unhealthy:g}s)")

    def roll_back(self, reason: str, scheduled_ns: int | None = None) -> None:
        if self.done:
            return
        self.done = True
        action = self.spec.action
        self.bus.publish(
            RollbackTriggered(trial=self.trial, reason=reason, action=action.kind, scheduled_ns=scheduled_ns)
        )
        ok, error = True, ""
        try:
            self._act()
        except (InfrastructureError, OSError, subprocess.SubprocessError, requests.RequestException) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        self.bus.publish(RollbackActionDone(trial=self.trial, ok=ok, error=error))
        if ok:
            for index in self.deploys:
                if index in self.timeline.active():
                    self.timeline.clear_now(index)
            self._confirm()

    def _act(self) -> None:
        action = self.spec.action
        if action.redeploy is not None:
            self.backend.deploy(action.redeploy.service, action.redeploy.version)
        elif action.flag is not None:
            url = self.backend.entry_url(action.flag.service) + action.flag.path
            resp = requests.post(url, json=action.flag.body, timeout=10)
            if resp.status_code >= 300:
                raise InfrastructureError(f"POST {url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        elif action.command is not None:
            # The user's script is told where every service answers: AFTERSHOCK_URL_<SERVICE>.
            env = labelled_env(self.run_id)
            for name in self.services:
                env[f"AFTERSHOCK_URL_{name.upper().replace('-', '_')}"] = self.backend.entry_url(name)
            argv = [sys.executable if part == "{python}" else part for part in action.command.run]
            proc = subprocess.run(
                argv,
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=action.command.timeout,
            )
            if proc.returncode != 0:
                raise InfrastructureError(
                    f"rollback command exited {proc.returncode}: {(proc.stderr or proc.stdout)[-500:]}"
                )

    def _confirm(self) -> None:
        """Confirm the rolled-back version; a redeploy without a confirm step is confirmed by the backend."""
        confirm = self.spec.confirm
        redeploy = self.spec.action.redeploy
        if confirm is None:
            if redeploy is not None and self.backend.version(redeploy.service) == redeploy.version:
                how = f"{redeploy.service} runs {redeploy.version}"
                self.bus.publish(RollbackConfirmed(trial=self.trial, how=how))
            else:
                self.bus.publish(RollbackUnconfirmed(trial=self.trial, why="no confirm step in the scenario"))
            return
        url = self.backend.entry_url(confirm.service) + confirm.path
        deadline = time.monotonic() + confirm.timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                resp = requests.get(url, timeout=2)
                if 200 <= resp.status_code < 300 and matches(confirm.expect, resp.json()):
                    self.bus.publish(RollbackConfirmed(trial=self.trial, how=f"GET {confirm.path} matched"))
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:120]}"
            except (requests.RequestException, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        self.bus.publish(RollbackUnconfirmed(trial=self.trial, why=f"GET {confirm.path}: {last}"))
