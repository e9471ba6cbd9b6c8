"""The ledger holds every request the load sent, key for key with what the target received, and
queued work is counted once. Real Toxiproxy, real processes, real Locust, real Postgres.

DESIGN.md, "Ledger completeness": stopping the load means no request starts after the stop
instant (journaled), every request in flight lands in the ledger, and the ledger closes only
after the last one. The ground-truth app counts every keyed request it receives (its ``/audit``);
``GT_WORK_DELAY`` keeps requests in flight when the load stops, the edge where they used to be lost.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml

from harness.load.control import done_marker
from harness.load.ledger import read_records, shard_paths
from harness.measure.audit import outstanding, validate_audit
from harness.measure.audit_store import audit_documents
from harness.measure.consistency import effects_of, reconcile
from tests.conftest import REPO, aftershock, latest_run, leftovers, results_of

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"
TRIALS = 20


def keyed_scenario(tmp_path: Path) -> Path:
    doc = {
        "name": "ledger-completeness",
        "target": {"name": str(GROUNDTRUTH), "env": {"app": {"GT_WORK_DELAY": "0.3"}}},
        # users cycle through 1, 3 and 10 req/s (keyed_locustfile.py); answers take 0.3 s
        "load": {
            "users": 6,
            "rate_per_user": 10,
            "duration": "2s",  # the edge under test is the stop: a longer load adds nothing
            "request_timeout": "1s",
            "locustfile": "keyed_locustfile.py",
        },
        "slo": {"window": "1s", "hold": "1s"},
        "faults": [],
        "trials": TRIALS,
    }
    path = tmp_path / "ledger-completeness.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_target_side_count_equals_the_ledger_key_for_key_over_20_trials(tmp_path: Path) -> None:
    proc = aftershock("run", str(keyed_scenario(tmp_path)), "--out", str(tmp_path), "--quiet", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = latest_run(tmp_path)
    stops = {
        e["trial"]: e["t_ns"]
        for e in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
        if e["event"] == "load_stopped"
    }
    assert sorted(stops) == list(range(1, TRIALS + 1))
    in_flight_at_stop = 0
    for trial in range(1, TRIALS + 1):
        trial_dir = run_dir / f"trial-{trial}"
        shards = shard_paths(trial_dir)
        records = list(read_records(shards))
        doc = audit_documents(trial_dir)["app"]
        audit = validate_audit(doc, f"trial {trial} audit")
        received = Counter(e.key for e in audit.effects)
        ledgered = Counter(r.key for r in records)
        missing = {k: n - ledgered[k] for k, n in received.items() if n != ledgered[k]}
        extra = {k: n - received[k] for k, n in ledgered.items() if n != received[k]}
        assert not missing and not extra, f"trial {trial}: target vs ledger differ: {missing} / {extra}"
        assert all(r.start_ns <= stops[trial] for r in records), f"trial {trial}: a request after the stop"
        assert all(done_marker(p).exists() for p in shards), f"trial {trial}: a shard was not closed"
        in_flight_at_stop += sum(r.end_ns > stops[trial] for r in records)
        per_user = Counter(r.key.rsplit("-", 1)[0] for r in records)
        assert min(per_user.values()) <= 3, per_user  # a 1 req/s user was among them, 2 s of load
        c = reconcile(
            records, effects_of({"app": audit}), write_ops=["work"], primary="request", final_status=None
        )
        assert (c.unledgered, c.lost, c.writes) == (0, 0, len(received))
    assert in_flight_at_stop > 0  # the stop did catch requests in flight: the edge was exercised
    assert leftovers(results_of(run_dir)["run_id"]) == []


def test_orders_reports_a_queued_order_once(tmp_path: Path) -> None:
    """With the worker cut off from the database, an accepted order waits: it is one unit of
    work (its effect, status pending), not two (the effect plus a pending job)."""
    from harness.scenario.loader import load_target
    from harness.session import TargetSession

    target_dir = REPO / "targets" / "orders"
    target = load_target(target_dir)
    run_id = "test-" + secrets.token_hex(3)
    with TargetSession(target, target_dir, tmp_path, run_id) as session:
        session.toxiproxy.update_proxy(session.proxies.name("worker->db"), enabled=False)
        api = session.url("api")
        body = {"item": "mug", "qty": 1, "amount_cents": 1250}
        resp = requests.post(f"{api}/orders", json=body, headers={"Idempotency-Key": "q-1"}, timeout=10)
        assert resp.status_code == 201, resp.text
        audit = validate_audit(requests.get(f"{api}/audit", timeout=10).json(), f"{api}/audit")
        (effect,) = audit.effects
        assert (effect.key, effect.status) == ("q-1", "pending")
        assert outstanding({"api": audit}, "order", "confirmed") == 1
    assert leftovers(run_id) == []
