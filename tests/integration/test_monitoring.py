"""The target's own monitoring as run resources: a real Prometheus and Alertmanager scrape the
real orders target, its shipped symptom alert fires when payments go down, the notification lands
in the journal through our webhook, and everything stops with nothing left behind - also after
the harness that started them is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from harness import reaper
from harness.clock import now_ns
from harness.events import EventBus
from harness.journal import Journal, read_journal
from harness.measure.detection import AlertNotice, runbook_resolves
from harness.monitoring import MonitoringStack, ScrapeTarget
from harness.monitoring.events import AlertReceived
from harness.scenario.loader import load_target
from harness.session import TargetSession
from tests.conftest import REPO, leftovers

pytestmark = pytest.mark.integration
ORDERS = REPO / "targets" / "orders"


def wait_for(what: str, predicate: object, timeout: float) -> None:
    """Bounded wait for an event (not a timing assertion): fails only if it never happens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:g}s")


def order(base: str) -> None:
    requests.post(
        f"{base}/orders",
        headers={"Idempotency-Key": uuid.uuid4().hex},
        json={"item": "mug", "qty": 1, "amount_cents": 1200},
        timeout=5,
    ).raise_for_status()


def test_a_shipped_symptom_alert_reaches_the_journal(tmp_path: Path, toxiproxy_binary: Path) -> None:
    run_id = f"mon-{uuid.uuid4().hex[:6]}"
    t0 = now_ns()
    bus = EventBus()
    journal = Journal(tmp_path / "journal.jsonl", t0)
    bus.subscribe(journal)
    target = load_target(ORDERS)
    with TargetSession(target, ORDERS, tmp_path / "target", run_id, toxiproxy_binary=toxiproxy_binary) as s:
        scrape = [ScrapeTarget(name, s.url(name).removeprefix("http://")) for name in ("api", "worker")]
        with MonitoringStack(
            run_id=run_id,
            work_dir=tmp_path / "monitoring",
            targets=scrape,
            rule_files=[ORDERS / "alerts.yml"],
        ) as mon:
            assert mon.targets_up() == {"api": True, "worker": True}
            ports = [mon.prometheus.url, mon.alertmanager.url]  # type: ignore[union-attr]
            assert all(u.startswith("http://127.0.0.1:") for u in ports)
            s.toxiproxy.update_proxy(s.proxies.name("worker->payments"), enabled=False)

            def pump() -> list[str]:
                for a in mon.drain():
                    bus.publish(AlertReceived(t_ns=a.t_ns, trial=1, **a.event_data()))
                return [a.alertname for a in mon.firing()]

            base = s.url()

            def fired() -> bool:
                order(base)
                return "OrdersNotConfirmed" in pump()

            wait_for("OrdersNotConfirmed firing", fired, 90)
            s.toxiproxy.update_proxy(s.proxies.name("worker->payments"), enabled=True)
            wait_for("every alert resolved", lambda: pump() == [], 90)
    journal.close()

    alerts = [e for e in read_journal(tmp_path / "journal.jsonl") if e["event"] == "alert"]
    notices = [AlertNotice.from_journal(e, t0) for e in alerts]
    firing = [n for n in notices if n.status == "firing" and n.name == "OrdersNotConfirmed"]
    resolved = [n for n in notices if n.status == "resolved" and n.name == "OrdersNotConfirmed"]
    assert firing and resolved and firing[0].received_at < resolved[-1].received_at
    assert firing[0].symptom and firing[0].labels["aftershock_run"] == run_id
    assert runbook_resolves(firing[0].annotations["runbook_url"], ORDERS)[0]
    assert any(n.name == "PaymentsFailing" for n in notices)  # the cause, as a ticket
    raw = (tmp_path / "monitoring" / "notifications.jsonl").read_text().splitlines()
    assert len(raw) >= 2 and json.loads(raw[0])["notification"]["receiver"] == "aftershock"
    for url in ports:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
    assert leftovers(run_id) == []


CHILD = """
import sys, time
from pathlib import Path
from prometheus_client import start_http_server
from harness.monitoring import MonitoringStack, ScrapeTarget
from harness.net import free_port
port = free_port()
start_http_server(port, addr="127.0.0.1")
stack = MonitoringStack(run_id=sys.argv[1], work_dir=Path(sys.argv[2]),
                        targets=[ScrapeTarget("self", f"127.0.0.1:{port}")], rule_files=[])
stack.__enter__()
print("ready", flush=True)
time.sleep(600)
"""


def test_monitoring_of_a_killed_harness_is_swept(tmp_path: Path) -> None:
    run_id = f"mon-kill-{uuid.uuid4().hex[:6]}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, run_id, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        started = leftovers(run_id)
        assert any("prometheus" in p for p in started) and any("alertmanager" in p for p in started)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    swept = reaper.sweep(run_id=run_id)
    assert {p.pid for p in swept} >= {int(p.split()[0]) for p in started}
    assert leftovers(run_id) == []
