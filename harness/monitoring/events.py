"""Run events of the target's monitoring: typed like every other event, journaled with their tag.

Importing this module registers them (``harness.events.EVENTS``), so :func:`harness.journal.read_events`
reads them back into these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from harness.events import RunEvent


@dataclass(frozen=True, kw_only=True)
class MonitoringStarted(RunEvent):
    """Prometheus and Alertmanager are up, scraping and wired to our webhook."""

    TAG: ClassVar[str] = "monitoring_started"
    trial: int
    prometheus: str
    alertmanager: str
    scrape: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)
    #: the target's directory: runbook_url annotations resolve against it
    runbook_root: str = ""
    interval: float = 1.0
    escalate_after: float = 180.0


@dataclass(frozen=True, kw_only=True)
class AlertReceived(RunEvent):
    """One alert of an Alertmanager notification; ``t_ns`` is when our webhook received it."""

    TAG: ClassVar[str] = "alert"
    trial: int
    status: str  # firing | resolved
    alertname: str
    fingerprint: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""

    @property
    def symptom(self) -> bool:
        return self.labels.get("symptom", "").lower() == "true"


@dataclass(frozen=True, kw_only=True)
class MonitoringStopped(RunEvent):
    TAG: ClassVar[str] = "monitoring_stopped"
    trial: int
    still_firing: list[str] = field(default_factory=list)
