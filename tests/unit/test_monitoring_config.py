"""Generated monitoring configuration (checked by Prometheus' own tools) and the webhook payload."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from harness.monitoring.config import ScrapeTarget, alertmanager_config, prometheus_config
from harness.monitoring.webhook import parse_notification
from tests.conftest import REPO


def test_prometheus_config_scrapes_each_service_at_the_interval_and_loads_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    shutil.copyfile(REPO / "targets" / "orders" / "alerts.yml", rules)
    text = prometheus_config(
        run_id="r1",
        targets=[ScrapeTarget("api", "127.0.0.1:8001"), ScrapeTarget("worker", "127.0.0.1:8002")],
        metrics_path="/metrics",
        rule_files=[str(rules)],
        alertmanager="127.0.0.1:9093",
        interval=0.5,
    )
    doc = yaml.safe_load(text)
    assert doc["global"]["scrape_interval"] == doc["global"]["evaluation_interval"] == "500ms"
    assert doc["global"]["external_labels"] == {"aftershock_run": "r1"}
    assert [j["static_configs"][0]["labels"]["service"] for j in doc["scrape_configs"]] == ["api", "worker"]
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus: run `make monitoring`"
    check = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_alertmanager_config_sends_every_alert_at_once_with_resolutions(tmp_path: Path) -> None:
    text = alertmanager_config(webhook_url="http://127.0.0.1:5001/alerts", group_interval=1.0)
    route = yaml.safe_load(text)["route"]
    assert (
        route["group_by"] == ["..."] and route["group_wait"] == "0s" and route["group_interval"] == "1000ms"
    )
    (hook,) = yaml.safe_load(text)["receivers"][0]["webhook_configs"]
    assert hook["send_resolved"] is True
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    amtool = shutil.which("amtool")
    assert amtool, "amtool comes with Debian's prometheus-alertmanager: run `make monitoring`"
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_webhook_payload_becomes_one_alert_each() -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "aftershock",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "OrdersNotConfirmed", "symptom": "true"},
                "annotations": {"runbook_url": "runbooks/orders-not-confirmed.md"},
                "startsAt": "2026-11-29T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc",
            },
            {"status": "resolved", "labels": {"alertname": "PaymentsFailing"}, "fingerprint": "def"},
        ],
    }
    first, second = parse_notification(payload, 42)
    assert (first.t_ns, first.status, first.alertname, first.fingerprint) == (
        42,
        "firing",
        "OrdersNotConfirmed",
        "abc",
    )
    assert first.annotations["runbook_url"] == "runbooks/orders-not-confirmed.md"
    assert (second.status, second.alertname, second.annotations) == ("resolved", "PaymentsFailing", {})
    assert parse_notification({"alerts": None}, 1) == []
