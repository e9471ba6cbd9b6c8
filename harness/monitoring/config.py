"""Configuration files for the run's Prometheus and Alertmanager, generated per trial.

Both are written into the trial directory, so a run directory shows exactly what was scraped,
which rules were loaded and where notifications went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class ScrapeTarget:
    """One service to scrape: its name (the ``service`` label) and its loopback ``host:port``."""

    service: str
    address: str


def _interval(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def prometheus_config(
    *,
    run_id: str,
    targets: Sequence[ScrapeTarget],
    metrics_path: str,
    rule_files: Sequence[str],
    alertmanager: str,
    interval: float,
) -> str:
    """``prometheus.yml``: one job per scraped service, the rules, our Alertmanager."""
    doc: dict[str, Any] = {
        "global": {
            "scrape_interval": _interval(interval),
            "evaluation_interval": _interval(interval),
            "scrape_timeout": _interval(min(interval, 10.0)),
            "external_labels": {"aftershock_run": run_id},
        },
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": t.service,
                "metrics_path": metrics_path,
                "static_configs": [{"targets": [t.address], "labels": {"service": t.service}}],
            }
            for t in targets
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def alertmanager_config(*, webhook_url: str, group_interval: float) -> str:
    """``alertmanager.yml``: every alert its own group, sent at once, resolutions too.

    Grouping and repeat delays exist to spare a human's pager; here the receiver is a
    measurement, and a grouping delay would be added to every ``time_to_detect``.
    """
    doc: dict[str, Any] = {
        "route": {
            "receiver": "aftershock",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": _interval(group_interval),
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "aftershock",
                "webhook_configs": [{"url": webhook_url, "send_resolved": True, "max_alerts": 0}],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)
