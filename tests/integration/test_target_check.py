"""`aftershock target check`: one start, one request per op, the audit read and checked, all stopped."""

from __future__ import annotations

import pytest

from tests.conftest import aftershock

pytestmark = pytest.mark.integration


def test_check_of_the_orders_target_reports_services_links_ops_and_effects() -> None:
    proc = aftershock("target", "check", "orders", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "target orders on process: OK" in out
    for line in (
        "api->db",
        "worker->payments",
        "create_order     ok",
        "read_order       ok",
        "1 order",
        "1 charge",
    ):
        assert line in out, out


def test_the_check_waits_for_the_work_its_requests_queued_before_it_reads_the_audit() -> None:
    """Seen in a fresh-clone suite run: the order's charge (the worker's job) was not in the audit
    yet when the check read it ("payments none"). A slow worker (1.5 s per order) makes that race
    certain: the check must drain the queued work first, as a run does."""
    proc = aftershock("target", "check", "orders", timeout=300, env={"ORDERS_WORK_MS": "1500"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 charge" in proc.stdout, proc.stdout


def test_check_of_an_unknown_target_is_a_usage_error() -> None:
    proc = aftershock("target", "check", "no-such-target")
    assert proc.returncode == 2
    assert "no target 'no-such-target'" in proc.stderr
