"""Prometheus, Alertmanager and our webhook receiver, started and stopped together per trial.

Order: receiver (so Alertmanager has somewhere to send), Alertmanager (so Prometheus has
somewhere to send), Prometheus. Teardown is the reverse, every step runs. Everything listens on
127.0.0.1 only; Alertmanager's cluster port is switched off (it would bind every interface).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from harness.errors import InfrastructureError
from harness.monitoring import binaries
from harness.monitoring.config import ScrapeTarget, alertmanager_config, prometheus_config
from harness.monitoring.daemon import Daemon
from harness.monitoring.webhook import AlertReceiver, ReceivedAlert
from harness.net import free_port
from harness.resource import Resource
from harness.teardown import Teardown

HOST = "127.0.0.1"


class MonitoringStack(Resource):
    """The target's monitoring for one trial. A :class:`~harness.resource.Resource`.

    ``rule_files`` are the target's alert rules; they are copied into ``work_dir`` and loaded
    as they are. :meth:`drain` hands over the alerts received since the last call and keeps
    track of which are firing, for :meth:`firing`.
    """

    def __init__(
        self,
        *,
        run_id: str,
        work_dir: Path,
        targets: Sequence[ScrapeTarget],
        rule_files: Sequence[Path],
        metrics_path: str = "/metrics",
        interval: float = 1.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.run_id = run_id
        self.work_dir = work_dir
        self.targets = list(targets)
        self.rule_files = list(rule_files)
        self.metrics_path = metrics_path
        self.interval = interval
        self.start_timeout = start_timeout
        self._td = Teardown()
        self._firing: dict[str, ReceivedAlert] = {}
        self.receiver: AlertReceiver | None = None
        self.prometheus: Daemon | None = None
        self.alertmanager: Daemon | None = None

    def stop(self) -> None:
        """Everything started, newest first; every step runs (see :class:`~harness.teardown.Teardown`)."""
        self._td.close()

    def start(self) -> None:
        """Receiver, then Alertmanager (notifying it), then Prometheus (alerting it), then wired."""
        prometheus_bin, alertmanager_bin = binaries.prometheus(), binaries.alertmanager()
        rules = self._copy_rules()
        self.receiver = self._td.enter(
            "alert receiver", AlertReceiver(self.work_dir / "notifications.jsonl", HOST)
        )
        am_port = self._start_alertmanager(alertmanager_bin, self.receiver.url)
        self._start_prometheus(prometheus_bin, rules, am_port)
        self._wait_wired()

    def _copy_rules(self) -> list[str]:
        """The rule files, copied into the work directory (numbered: two may share a name)."""
        wd = self.work_dir
        (wd / "rules").mkdir(parents=True, exist_ok=True)
        rules = []
        for n, src in enumerate(self.rule_files):
            dst = wd / "rules" / f"{n}-{src.name}"
            shutil.copyfile(src, dst)
            rules.append(str(dst))
        return rules

    def _start_alertmanager(self, binary: Path, webhook_url: str) -> int:
        """Alertmanager, notifying ``webhook_url``, on a port of its own (returned), no cluster."""
        wd = self.work_dir
        am_port = free_port(HOST)
        (wd / "alertmanager.yml").write_text(
            alertmanager_config(webhook_url=webhook_url, group_interval=self.interval), encoding="utf-8"
        )
        self.alertmanager = self._td.enter(
            "alertmanager",
            Daemon(
                "alertmanager",
                [
                    str(binary),
                    f"--config.file={wd / 'alertmanager.yml'}",
                    f"--storage.path={wd / 'alertmanager-data'}",
                    f"--web.listen-address={HOST}:{am_port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                f"http://{HOST}:{am_port}",
                wd / "alertmanager.log",
                self.run_id,
                self.start_timeout,
            ),
        )
        return am_port

    def _start_prometheus(self, binary: Path, rules: list[str], am_port: int) -> None:
        """Prometheus scraping the targets with ``rules``, alerting the Alertmanager at ``am_port``."""
        wd = self.work_dir
        prom_port = free_port(HOST)
        (wd / "prometheus.yml").write_text(
            prometheus_config(
                run_id=self.run_id,
                targets=self.targets,
                metrics_path=self.metrics_path,
                rule_files=rules,
                alertmanager=f"{HOST}:{am_port}",
                interval=self.interval,
            ),
            encoding="utf-8",
        )
        self.prometheus = self._td.enter(
            "prometheus",
            Daemon(
                "prometheus",
                [
                    str(binary),
                    f"--config.file={wd / 'prometheus.yml'}",
                    f"--storage.tsdb.path={wd / 'prometheus-data'}",
                    f"--web.listen-address={HOST}:{prom_port}",
                    "--log.level=warn",
                ],
                f"http://{HOST}:{prom_port}",
                wd / "prometheus.log",
                self.run_id,
                self.start_timeout,
            ),
        )

    def _wait_wired(self) -> None:
        """Ready is not enough: Prometheus applies discovered targets and Alertmanagers at most
        every 5 s, so until then it neither scrapes nor notifies. A fault injected before that
        would be measured against a monitoring that was not yet looking."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                managers = self.query("/api/v1/alertmanagers")["activeAlertmanagers"]
                active = self.query("/api/v1/targets")["activeTargets"]
                scraped = [t for t in active if t["health"] != "unknown"]
                if managers and len(scraped) >= len(self.targets):
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"prometheus did not start scraping {[t.service for t in self.targets]} and "
                    f"notifying its alertmanager within {self.start_timeout:g}s; see {self.work_dir}"
                )
            time.sleep(0.2)

    # -- what the run asks ----------------------------------------------------------------
    def drain(self) -> list[ReceivedAlert]:
        """Alerts received since the last call; updates :meth:`firing`."""
        if self.receiver is None:
            return []
        got = self.receiver.drain()
        for a in got:
            if a.status == "firing":
                self._firing[a.fingerprint] = a
            else:
                self._firing.pop(a.fingerprint, None)
        return got

    def firing(self) -> list[ReceivedAlert]:
        """Alerts whose last notification said firing."""
        return list(self._firing.values())

    def query(self, path: str, **params: Any) -> Any:
        """GET Prometheus' HTTP API (``/api/v1/...``); the ``data`` of its answer."""
        assert self.prometheus is not None
        resp = requests.get(f"{self.prometheus.url}{path}", params=params, timeout=5)
        resp.raise_for_status()
        return resp.json()["data"]

    def targets_up(self) -> dict[str, bool]:
        """Per scraped service, whether its last scrape succeeded."""
        active = self.query("/api/v1/targets")["activeTargets"]
        return {t["labels"].get("service", t["scrapeUrl"]): t["health"] == "up" for t in active}
