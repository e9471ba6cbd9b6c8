"""`aftershock target check`: one start, one request per op, the audit read and checked, all stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, aftershock

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


def test_a_clean_check_leaves_nothing_behind(tmp_path: Path) -> None:
    """It once left a directory of logs in the temporary directory at every check."""
    proc = aftershock("target", "check", "groundtruth", timeout=300, env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list(tmp_path.glob("aftershock-check-*")), "the check left its work directory"
    assert "logs kept" not in proc.stdout


def test_a_check_that_finds_a_problem_keeps_its_logs_and_says_where(tmp_path: Path) -> None:
    target = tmp_path / "gt404"
    shutil.copytree(REPO / "targets" / "groundtruth", target, ignore=shutil.ignore_patterns("docker"))
    (target / "locustfile.py").write_text(
        "from locust import task\n\nfrom harness.load.user import LedgerUser\n\n\n"
        "class Missing(LedgerUser):\n    @task\n    def missing(self) -> None:\n"
        '        self.call("missing", "GET", "/no-such-path")\n'
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = aftershock("target", "check", str(target), timeout=300, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PROBLEM: op missing was not answered ok" in proc.stdout, proc.stdout
    kept = list(tmp.glob("aftershock-check-*"))
    assert len(kept) == 1 and f"logs kept in {kept[0]}" in proc.stdout, proc.stdout
    assert (kept[0] / "toxiproxy.log").is_file()


def test_a_check_whose_target_cannot_start_says_where_its_logs_are(tmp_path: Path) -> None:
    """A start that fails (exit 3) keeps the services' logs, and says where: a newcomer found a
    directory of them in /tmp after every failed check, named nowhere."""
    target = tmp_path / "gtdead"
    shutil.copytree(REPO / "targets" / "groundtruth", target, ignore=shutil.ignore_patterns("docker"))
    yaml = (target / "target.yaml").read_text()
    dead = '["{python}", "-c", "import sys; print(\'no database\'); sys.exit(1)"]'
    (target / "target.yaml").write_text(
        yaml.replace('["{python}", "dep.py", "--port", "{port}", "--host", "{host}"]', dead)
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = aftershock("target", "check", str(target), timeout=300, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (kept,) = tmp.glob("aftershock-check-*")
    assert f"logs kept in {kept}" in proc.stderr, proc.stderr
