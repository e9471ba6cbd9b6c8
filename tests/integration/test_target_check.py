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


def test_check_of_an_unknown_target_is_a_usage_error() -> None:
    proc = aftershock("target", "check", "no-such-target")
    assert proc.returncode == 2
    assert "no target 'no-such-target'" in proc.stderr
