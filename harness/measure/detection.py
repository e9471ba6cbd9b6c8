"""Detection by the target's own monitoring (DESIGN.md, binding).

The notifications are the ones the target's real Alertmanager sent to aftershock's webhook,
stamped on the run clock when they arrived (the journal's ``alert`` events).

* ``time_to_detect`` = first *firing* notification received in the fault's span, minus the first
  impact (the earlier of the HTTP impact and the instant the backlog left its baseline range). It
  may be negative: a cause alert can fire before any user feels the fault.
* A **symptom** alert is labelled ``symptom: "true"``: it watches a user-facing SLI (errors users
  see, orders not confirmed), not a cause ("db down"). Symptom-first alerting pages on these.
* A firing alert's ``runbook_url`` annotation must **resolve**: to a file the target ships (a path
  relative to the target's directory, or ``file://`` inside it); anything else (absent, missing
  file, a web URL aftershock cannot check offline) makes the alert *noise*.
* ``time_to_resolve`` = the last *resolved* notification of the fault's alerts minus
  ``recovered_at`` (when both HTTP and the backlog were back); None while any is unresolved.
* **Escalation**: an alert that stayed firing for ``escalate_after`` or longer (to its resolution,
  or to the end of the observation) is labelled ESCALATE: it needs a human.
* **Resolution**: a notification is stamped when it arrives, so ``time_to_detect`` carries the
  uncertainty of the impact instant only, and ``time_to_resolve`` that of ``recovered_at``;
  Prometheus' own scrape and evaluation intervals are part of what is measured, not an error of
  the measurement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

SYMPTOM_LABEL = "symptom"
RUNBOOK_ANNOTATION = "runbook_url"


@dataclass(frozen=True)
class AlertNotice:
    """One alert in one Alertmanager notification, as received (run-relative seconds)."""

    received_at: float
    status: str  # "firing" | "resolved"
    name: str
    fingerprint: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_journal(cls, entry: Mapping[str, Any], t0_ns: int) -> AlertNotice:
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        return cls(
            received_at=(int(entry["t_ns"]) - t0_ns) / 1e9,
            status=str(entry.get("status", "")),
            name=str(entry.get("alertname") or labels.get("alertname", "")),
            fingerprint=str(entry.get("fingerprint") or labels.get("alertname", "")),
            labels=labels,
            annotations={str(k): str(v) for k, v in (entry.get("annotations") or {}).items()},
        )

    @property
    def symptom(self) -> bool:
        return self.labels.get(SYMPTOM_LABEL, "").lower() == "true"


def runbook_resolves(url: str | None, root: Path) -> tuple[bool, str]:
    """Whether ``url`` names a file the target ships under ``root``, and why not if it does not."""
    if not url:
        return False, "no runbook_url annotation"
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return False, f"{url} is a web address; aftershock checks only runbooks the target ships"
    if parsed.scheme not in ("", "file"):
        return False, f"{url}: unknown scheme {parsed.scheme!r}"
    path = Path(unquote(parsed.path))
    full = (path if path.is_absolute() else root / path).resolve()
    base = root.resolve()
    if not full.is_relative_to(base):
        return False, f"{url} is outside the target's directory {base}"
    if not full.is_file():
        return False, f"{url}: no such file in the target ({full})"
    return True, str(full.relative_to(base))


@dataclass(frozen=True)
class AlertSummary:
    """One alert (by fingerprint) over one fault's span."""

    name: str
    symptom: bool
    severity: str
    fired_at: float
    resolved_at: float | None
    runbook_url: str | None
    runbook_ok: bool
    runbook_note: str
    escalated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "symptom": self.symptom,
            "severity": self.severity,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "runbook_url": self.runbook_url,
            "runbook": self.runbook_ok,
            "runbook_note": self.runbook_note,
            "escalate": self.escalated,
        }


@dataclass(frozen=True)
class DetectionMeasurement:
    impact_at: float | None
    detected_at: float | None
    time_to_detect: float | None
    recovered_at: float | None
    resolved_at: float | None
    time_to_resolve: float | None
    alerts: tuple[AlertSummary, ...]
    resolution: float
    resolve_resolution: float = 0.0

    @property
    def detected(self) -> bool:
        return self.detected_at is not None

    @property
    def symptom(self) -> bool:
        return any(a.symptom for a in self.alerts)

    @property
    def runbook(self) -> bool:
        """Every firing alert has a runbook the target ships (and at least one fired)."""
        return bool(self.alerts) and all(a.runbook_ok for a in self.alerts)

    @property
    def resolved(self) -> bool:
        return bool(self.alerts) and all(a.resolved_at is not None for a in self.alerts)

    @property
    def time_to_detect_symptom(self) -> float | None:
        """First impact to the first *symptom* alert: when the page that matters went out."""
        first = next((a.fired_at for a in self.alerts if a.symptom), None)
        return None if first is None or self.impact_at is None else first - self.impact_at

    @property
    def noise(self) -> int:
        return sum(1 for a in self.alerts if not a.runbook_ok)

    @property
    def escalate(self) -> list[str]:
        return [a.name for a in self.alerts if a.escalated]

    def to_dict(self) -> dict[str, Any]:
        return {
            "impact_at": self.impact_at,
            "detected": self.detected,
            "detected_at": self.detected_at,
            "time_to_detect": self.time_to_detect,
            "time_to_detect_symptom": self.time_to_detect_symptom,
            "recovered_at": self.recovered_at,
            "resolved_at": self.resolved_at,
            "time_to_resolve": self.time_to_resolve,
            "symptom": self.symptom,
            "runbook": self.runbook,
            "resolved": self.resolved,
            "noise": self.noise,
            "escalate": self.escalate,
            "alerts": [a.to_dict() for a in self.alerts],
            "resolution": {"time_to_detect": self.resolution, "time_to_resolve": self.resolve_resolution},
        }


def measure_detection(
    notices: Iterable[AlertNotice],
    *,
    injected_at: float,
    until: float,
    impact_at: float | None,
    recovered_at: float | None,
    observe_to: float,
    escalate_after: float,
    runbook_root: Path,
    impact_resolution: float = 0.0,
    recovered_resolution: float = 0.0,
) -> DetectionMeasurement:
    """Detection of one fault from the notifications received in ``[injected_at, until]``.

    ``until`` is the next fault's injection or the end of the observation; a *resolved*
    notification is taken up to ``observe_to`` for an alert that fired in the span.
    """
    ordered = sorted(notices, key=lambda n: n.received_at)
    summaries = [
        _summary(first, ordered, observe_to, escalate_after, runbook_root)
        for first in _first_firing(ordered, injected_at, until)
    ]
    summaries.sort(key=lambda a: a.fired_at)
    detected_at = summaries[0].fired_at if summaries else None
    resolutions = [a.resolved_at for a in summaries]
    all_resolved = bool(summaries) and all(r is not None for r in resolutions)
    resolved_at = max(r for r in resolutions if r is not None) if all_resolved else None
    return DetectionMeasurement(
        impact_at=impact_at,
        detected_at=detected_at,
        time_to_detect=None if detected_at is None or impact_at is None else detected_at - impact_at,
        recovered_at=recovered_at,
        resolved_at=resolved_at,
        time_to_resolve=None if resolved_at is None or recovered_at is None else resolved_at - recovered_at,
        alerts=tuple(summaries),
        resolution=impact_resolution,
        resolve_resolution=recovered_resolution,
    )


def _first_firing(ordered: list[AlertNotice], injected_at: float, until: float) -> list[AlertNotice]:
    """The first *firing* notification of each alert (by fingerprint) received in the span."""
    firing: dict[str, AlertNotice] = {}
    for n in ordered:
        if n.status == "firing" and injected_at <= n.received_at <= until and n.fingerprint not in firing:
            firing[n.fingerprint] = n
    return list(firing.values())


def _summary(
    first: AlertNotice,
    ordered: list[AlertNotice],
    observe_to: float,
    escalate_after: float,
    runbook_root: Path,
) -> AlertSummary:
    """One alert: when it fired and was resolved (up to ``observe_to``), its runbook, and whether
    it lasted long enough to escalate."""
    fp = first.fingerprint
    resolved = next(
        (
            n.received_at
            for n in ordered
            if n.fingerprint == fp
            and n.status == "resolved"
            and first.received_at <= n.received_at
            and n.received_at <= observe_to
        ),
        None,
    )
    url = first.annotations.get(RUNBOOK_ANNOTATION)
    ok, note = runbook_resolves(url, runbook_root)
    lasted = (observe_to if resolved is None else resolved) - first.received_at
    return AlertSummary(
        name=first.name,
        symptom=first.symptom,
        severity=first.labels.get("severity", ""),
        fired_at=first.received_at,
        resolved_at=resolved,
        runbook_url=url,
        runbook_ok=ok,
        runbook_note=note,
        escalated=lasted >= escalate_after,
    )
