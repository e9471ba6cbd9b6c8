"""The end of a trial's load: stop it, let the target drain its queued work, keep its audit.

A step of its own because its order is a contract (DESIGN.md, ledger completeness): no request
starts after the journaled stop instant, every request sent is in the ledger before the audit is
read, and the audit is validated against its schema before anything is computed from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.clock import now_ns
from harness.errors import InfrastructureError
from harness.events import Audited, Drained, EventBus, LoadStopped, PhaseStarted
from harness.guards.trial import TrialGuards
from harness.load.runner import LoadProcess
from harness.measure.audit import Audit, AuditSchemaError, outstanding, validate_audit
from harness.measure.audit_store import write_audit
from harness.scenario.target import Target
from harness.targets.backend import Backend


def stop_and_audit(
    bus: EventBus,
    trial: int,
    trial_dir: Path,
    load: LoadProcess,
    guards: TrialGuards,
    *,
    backend: Backend,
    target: Target,
    drain_timeout: float,
) -> None:
    """Stop the load, then drain and audit. The guards stop watching Locust first: from here its
    exit is ours."""
    guards.stop_aborting()
    guards.release("locust")
    guards.release("load-worker")
    bus.publish(
        PhaseStarted(trial=trial, what="stopping the load: waiting for the requests in flight to land")
    )
    stop_ns = load.drain()
    bus.publish(LoadStopped(t_ns=stop_ns, trial=trial))
    for offset in load.clock_offsets(trial):  # remote workers: the offsets their shards were shifted by
        bus.publish(offset)
    if target.audit:
        bus.publish(
            PhaseStarted(
                trial=trial,
                what=f"draining the target's queued work (up to {drain_timeout:g} s), then reading its audit",
            )
        )
        drain_and_audit(bus, backend, target, trial, trial_dir, drain_timeout)


def drain_and_audit(
    bus: EventBus, backend: Backend, target: Target, trial: int, trial_dir: Path, timeout: float
) -> None:
    """Wait (bounded) until the target reports no pending work, then keep its final state."""
    started = now_ns()
    polled = drained_audits(backend, target, timeout)
    write_audit(trial_dir, polled.docs)  # a broken one too: kept to be looked at
    if polled.invalid is not None:
        raise polled.invalid
    effects = sum(len(a.effects) for a in polled.audits.values())
    pending = polled.pending
    bus.publish(Drained(trial=trial, waited=(now_ns() - started) / 1e9, pending=pending))
    bus.publish(Audited(trial=trial, summary=f"{effects} effects, {pending} still pending"))


@dataclass(frozen=True)
class PolledAudits:
    """The audits as last read: every source's document, validated (``invalid``: the first that
    breaks the contract, then ``audits`` is empty) and the work still outstanding."""

    docs: dict[str, Any]
    audits: dict[str, Audit]
    invalid: AuditSchemaError | None
    pending: int


def drained_audits(backend: Backend, target: Target, timeout: float, poll: float = 0.2) -> PolledAudits:
    """Read every audit source every ``poll`` s until the target reports no outstanding work -
    accepted and not finished, each unit once - or ``timeout`` s have passed; a run's drain and
    ``aftershock target check`` both wait so (an order the worker has not charged yet is work in
    flight, not a missing effect). An audit that breaks the contract ends the wait at once:
    nothing is computed from it (docs/audit.md)."""
    contract = target.consistency
    deadline = time.monotonic() + timeout
    while True:
        docs: dict[str, Any] = {}
        audits: dict[str, Audit] = {}
        for source in target.audit:
            url = backend.entry_url(source.service) + source.path
            docs[source.service] = fetch_audit(url, timeout=max(1.0, min(timeout, 30.0)))
        try:
            for source in target.audit:
                url = backend.entry_url(source.service) + source.path
                audits[source.service] = validate_audit(docs[source.service], url)
        except AuditSchemaError as exc:
            return PolledAudits(docs, {}, exc, 0)
        pending = outstanding(
            audits,
            contract.primary if contract else None,
            contract.final_status if contract else None,
        )
        if pending == 0 or time.monotonic() >= deadline:
            return PolledAudits(docs, audits, None, pending)
        time.sleep(poll)


def fetch_audit(url: str, timeout: float) -> Any:
    """The audit document at ``url``; an unreachable or unreadable audit is an infrastructure error."""
    try:
        resp = requests.get(url, timeout=timeout)
        resp.raise_for_status()
        return resp.json()
    except (requests.RequestException, json.JSONDecodeError) as exc:
        raise InfrastructureError(f"could not read the target's audit at {url}: {exc}") from None
