"""The scenario's ``monitoring:`` block and the operations expectations (typed, frozen).

A scenario may name the target's own monitoring: aftershock then starts a real Prometheus and
Alertmanager for each trial, scrapes the named services, loads the target's alert rules and
measures when that monitoring noticed the fault (``time_to_detect``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from harness.errors import Problem
from harness.scenario.fields import DurationBound, Seconds

DEFAULT_INTERVAL = 1.0
DEFAULT_ESCALATE_AFTER = 180.0


# a rule file or a list of them (``rules: alerts.yml`` or ``rules: [a.yml, b.yml]``)
RuleFiles = Annotated[
    list[str],
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class PrometheusSettings(_Model):
    """What Prometheus scrapes and which alert rules it evaluates."""

    scrape: list[str] = Field(
        min_length=1, description="services of the target to scrape, e.g. [api, worker]"
    )
    metrics_path: str = Field("/metrics", pattern=r"^/")
    rules: RuleFiles = Field(
        default_factory=list, description="alert rule files, relative to the target's directory"
    )
    mode_rules: dict[str, RuleFiles] = Field(
        default_factory=dict,
        description="rule files used instead of `rules` when the target runs in that mode (e.g. fragile)",
    )
    interval: Seconds = Field(DEFAULT_INTERVAL, gt=0, le=60, description="scrape and evaluation interval")

    @field_validator("rules", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("mode_rules", mode="before")
    @classmethod
    def _mode_one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    def rules_for(self, mode: str | None) -> list[str]:
        if mode is not None and mode in self.mode_rules:
            return self.mode_rules[mode]
        return self.rules


class Monitoring(_Model):
    """The target's own monitoring, run for real during each trial."""

    prometheus: PrometheusSettings
    escalate_after: Seconds = Field(
        DEFAULT_ESCALATE_AFTER, gt=0, description="an alert firing this long is labelled ESCALATE"
    )
    resolve_wait: Seconds = Field(
        20.0, ge=0, description="after the audit, wait up to this long for firing alerts to resolve"
    )
    start_timeout: Seconds = Field(30.0, gt=0)


class AlertExpectations(_Model):
    """What the target's alerting must do for every fault: page on a symptom, carry a runbook
    the target ships, and resolve after recovery."""

    symptom: bool | None = Field(None, description="true: at least one symptom alert fired")
    runbook: bool | None = Field(None, description="true: every firing alert has a shipped runbook")
    resolved: bool | None = Field(None, description="true: every alert that fired was resolved")


LineFor = Callable[[tuple[str | int, ...]], int | None]


def monitoring_problems(
    monitoring: Monitoring | None,
    *,
    services: Sequence[str],
    modes: Mapping[str, object],
    target_dir: Path,
    expects_detection: bool,
    file: str,
    line_for: LineFor,
) -> list[Problem]:
    """Everything about ``monitoring:`` that can be wrong before anything starts."""
    if monitoring is None:
        if not expects_detection:
            return []
        return [
            Problem(
                file,
                "expect",
                "time_to_detect and alerts are measured from the target's own alerting,"
                " and the scenario names none",
                None,
                line_for(("expect",)),
                "add `monitoring: {prometheus: {scrape: [api], rules: alerts.yml}}`",
            )
        ]
    prom = monitoring.prometheus
    return [
        *_scrape_problems(prom, services, file, line_for),
        *_mode_problems(prom, modes, file, line_for),
        *_rule_file_problems(_rule_files(prom), target_dir, file, line_for),
    ]


RuleFile = tuple[tuple[str | int, ...], str]  # (where in the scenario, path relative to the target)


def _scrape_problems(
    prom: PrometheusSettings, services: Sequence[str], file: str, line_for: LineFor
) -> Iterator[Problem]:
    """Every scraped service must be a service of the target."""
    for n, service in enumerate(prom.scrape):
        if service not in services:
            yield Problem(
                file,
                f"monitoring.prometheus.scrape[{n}]",
                "no such service in the target",
                service,
                line_for(("monitoring", "prometheus", "scrape", n)),
                f"services are: {', '.join(services)}",
            )


def _mode_problems(
    prom: PrometheusSettings, modes: Mapping[str, object], file: str, line_for: LineFor
) -> Iterator[Problem]:
    """Rules for a mode need a mode of that name in the target."""
    for mode in prom.mode_rules:
        if mode not in modes:
            yield Problem(
                file,
                f"monitoring.prometheus.mode_rules.{mode}",
                "the target has no such mode",
                mode,
                line_for(("monitoring", "prometheus", "mode_rules", mode)),
                f"modes are: {', '.join(modes) or 'none'}",
            )


def _rule_files(prom: PrometheusSettings) -> list[RuleFile]:
    """Every rule file named: the common ones, then each mode's."""
    files: list[RuleFile] = [(("monitoring", "prometheus", "rules", n), r) for n, r in enumerate(prom.rules)]
    for mode, rules in prom.mode_rules.items():
        files += [(("monitoring", "prometheus", "mode_rules", mode, n), r) for n, r in enumerate(rules)]
    return files


def _rule_file_problems(
    files: list[RuleFile], target_dir: Path, file: str, line_for: LineFor
) -> Iterator[Problem]:
    """Each rule file must exist in the target; where ``promtool`` is installed, Prometheus must
    be able to load it."""
    promtool = shutil.which("promtool")
    for where, rel in files:
        path = target_dir / rel
        field = ".".join(str(w) if isinstance(w, str) else f"[{w}]" for w in where).replace(".[", "[")
        if not path.is_file():
            yield Problem(
                file,
                field,
                "no such rule file in the target directory",
                rel,
                line_for(where),
                f"give a path relative to {target_dir}",
            )
        elif promtool is not None:
            check = subprocess.run(
                [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
            )
            if check.returncode != 0:
                detail = (check.stderr or check.stdout).strip().splitlines()[-1:] or ["(no detail)"]
                yield Problem(
                    file,
                    field,
                    f"Prometheus cannot load these rules: {detail[0]}",
                    rel,
                    line_for(where),
                    f"run `promtool check rules {path}` and fix what it says",
                )


__all__ = [
    "AlertExpectations",
    "DurationBound",
    "Monitoring",
    "PrometheusSettings",
    "monitoring_problems",
]
