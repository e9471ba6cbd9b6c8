"""``aftershock target check TARGET``: is this target ready to be rehearsed? Find out in one start.

Starts the target on any backend (its own Toxiproxy, a proxy per link, every service healthy),
sends one request of each op of its locustfile (:mod:`harness.load.ops`, through the ledger like
real load), reads every audit source and checks it against the audit contract, then stops
everything. It says what it found: services and their addresses, links and their proxies, ops
and their answers, audit effects (and whether each acknowledged write left one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.drain import drained_audits
from harness.errors import AftershockError, InfrastructureError
from harness.events import EventBus
from harness.load.ledger import read_records, shard_paths
from harness.measure.audit import AuditSchemaError, validate_audit
from harness.scenario.target import Target
from harness.session import TargetSession, mode_env

OPS_TIMEOUT = 120.0


@dataclass
class CheckReport:
    target: str
    backend: str
    services: dict[str, str] = field(default_factory=dict)  # name -> address
    links: dict[str, str] = field(default_factory=dict)  # link -> "proxy name: listen -> upstream"
    ops: list[tuple[str, str, int, str]] = field(default_factory=list)  # op, outcome, status, key
    effects: dict[str, dict[str, int]] = field(default_factory=dict)  # audit service -> kind -> count
    problems: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # not problems: what the rehearsal will not see
    seconds: float = 0.0
    logs: Path | None = None  # where the services' and Toxiproxy's logs were kept (a failed check)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [
            f"target {self.target} on {self.backend}: {'OK' if self.ok else 'PROBLEMS'} ({self.seconds:.1f}s)"
        ]
        lines.append("services up:")
        lines += [f"  {name:<12} {addr}" for name, addr in self.services.items()]
        lines.append("links and their proxies:" if self.links else "links: none")
        lines += [f"  {link:<20} {proxy}" for link, proxy in self.links.items()]
        lines.append("ops answered:" if self.ops else "ops: none sent")
        lines += [f"  {op:<16} {outcome:<13} HTTP {status}" for op, outcome, status, _ in self.ops]
        lines.append("audit effects seen:" if self.effects else "audit: none declared")
        for service, kinds in self.effects.items():
            seen = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
            lines.append(f"  {service:<12} {seen}")
        lines += [f"HINT: {h}" for h in self.hints]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        if self.logs is not None:
            lines.append(f"logs kept in {self.logs}")
        return "\n".join(lines)


NO_AUDIT_HINT = (
    "no audit: faults on workers will show no effect on the requests, and no data is checked;"
    " see docs/audit.md (and 'Step 2b' of docs/targets.md)"
)


def target_hints(target: Target) -> list[str]:
    """What a rehearsal of ``target`` cannot see, said before the first run shows it as a green PASS.

    Without an audit a crashed worker changes nothing the load observes: the run reports "no effect
    observed" and "data not checked". Not a problem (exit 0): a target may have no data to check.
    """
    return [] if target.audit else [NO_AUDIT_HINT]


def audit_problems(endpoint: str, doc: Any) -> list[str]:
    """Why ``doc`` does not fit the audit contract (:mod:`harness.measure.audit`, docs/audit.md)."""
    try:
        validate_audit(doc, endpoint)
    except AuditSchemaError as exc:
        return [str(exc)]
    return []


def check_target(
    target: Target,
    target_dir: Path,
    backend: str = "process",
    mode: str | None = None,
    work_dir: Path | None = None,
) -> CheckReport:
    """Check ``target`` in ``work_dir``, or in a temporary directory removed after a clean check.

    A check that found problems, or could not start the target, keeps its logs (the error and the
    report name them); a clean one leaves nothing behind, however often it is run.
    """
    if work_dir is not None:
        return _check_in(target, target_dir, backend, mode, work_dir)
    work = Path(tempfile.mkdtemp(prefix="aftershock-check-"))
    try:
        report = _check_in(target, target_dir, backend, mode, work)
    except AftershockError as exc:  # the start failed: its logs are what the user needs next
        exc.add_note(f"logs kept in {work}")
        raise
    if report.ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report.logs = work
    return report


def _check_in(target: Target, target_dir: Path, backend: str, mode: str | None, work: Path) -> CheckReport:
    started = time.monotonic()
    report = CheckReport(target.name, backend, hints=target_hints(target))
    run_id = f"check-{os.getpid()}-{int(time.time())}"
    env = mode_env(target, mode, {})
    with TargetSession(
        target, target_dir, work, run_id, backend=backend, env_overrides=env, bus=EventBus()
    ) as s:
        http = {target.entrypoint, *(a.service for a in target.audit)}
        http |= {n for n, spec in target.services.items() if spec.health is not None and spec.health.http}
        for name in target.start_order():
            try:
                if name in http:
                    report.services[name] = s.backend.entry_url(name)
                elif name in _servers(target):
                    report.services[name] = f"{s.backend.upstream_address(name)} (reached through its links)"
                else:
                    report.services[name] = "up (the harness uses no address of it)"
            except (InfrastructureError, KeyError):
                report.services[name] = "up"
        for link in target.links:
            _, server = target.link_ends(link)
            report.links[link] = (
                f"{s.proxies.name(link)}: {s.proxies.address(link)} -> {s.backend.upstream_address(server)}"
            )
        _send_ops(s.url(), target_dir / target.locustfile, work / "ops", report)
        docs = drained_audits(s.backend, target, DRAIN_SECONDS).docs
        for source in target.audit:
            endpoint = s.backend.entry_url(source.service) + source.path
            doc = docs[source.service]
            report.problems += audit_problems(endpoint, doc)
            kinds: dict[str, int] = {}
            for effect in doc.get("effects", []) if isinstance(doc, dict) else []:
                if isinstance(effect, dict):
                    kinds[str(effect.get("kind"))] = kinds.get(str(effect.get("kind")), 0) + 1
            report.effects[source.service] = kinds
            _check_writes(target, [doc], report)
    report.seconds = time.monotonic() - started
    return report


#: How long the check waits for the work its requests queued (a worker's charge) to finish.
DRAIN_SECONDS = 10.0


def _servers(target: Target) -> set[str]:
    return {target.link_ends(link)[1] for link in target.links}


def _send_ops(url: str, locustfile: Path, ledger_dir: Path, report: CheckReport) -> None:
    ledger_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AFTERSHOCK_LEDGER_DIR": str(ledger_dir), "AFTERSHOCK_REQUEST_TIMEOUT": "5"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.load.ops", str(locustfile), url],
            env=env,
            capture_output=True,
            text=True,
            timeout=OPS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        report.problems.append(f"the ops of {locustfile} did not finish within {OPS_TIMEOUT:g}s")
        return
    if done.returncode != 0:
        report.problems.append(f"running the ops of {locustfile} failed:\n{done.stderr[-1500:]}")
    for record in read_records(shard_paths(ledger_dir)):
        report.ops.append((record.op, record.outcome, record.status, record.key))
        if record.outcome != "ok":
            report.problems.append(
                f"op {record.op} was not answered ok ({record.outcome}, HTTP {record.status})"
            )
    if not report.ops and done.returncode == 0:
        report.problems.append(f"{locustfile} sent no request (its tasks must call self.call)")


def _check_writes(target: Target, docs: list[Any], report: CheckReport) -> None:
    """Every acknowledged write op must have left an effect under its idempotency key."""
    contract = target.consistency
    if contract is None:
        return
    keys = {
        str(e.get("key"))
        for d in docs
        if isinstance(d, dict)
        for e in d.get("effects", [])
        if isinstance(e, dict) and e.get("kind") == contract.primary
    }
    if not keys:
        return  # the primary effect lives in another audit source
    for op, outcome, _, key in report.ops:
        if op in contract.write_ops and outcome == "ok" and key not in keys:
            report.problems.append(
                f"op {op} (key {key}) was acknowledged but no {contract.primary!r} effect has it"
            )
