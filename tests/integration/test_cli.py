"""The CLI as a user meets it: bad input, list, validate, cleanup, version."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import REPO, aftershock, processes_with_env

BROKEN = REPO / "tests" / "fixtures" / "scenarios" / "broken"


def test_run_with_a_broken_scenario_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    mark = secrets.token_hex(8)  # inherited by anything the CLI would start
    # a valid scenario alongside a broken one: nothing at all may start
    proc = aftershock(
        "run",
        "scenarios/db-down.yaml",
        str(BROKEN / "unknown-link.yaml"),
        "--out",
        str(out),
        env={"AFTERSHOCK_TEST_MARK": mark},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nothing was started" in proc.stderr
    assert "unknown-link.yaml:6: faults[0].link" in proc.stderr
    assert not out.exists()
    assert processes_with_env("AFTERSHOCK_TEST_MARK", mark) == []


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.yaml")))
def test_validate_rejects_every_broken_scenario_with_exit_2(name: str) -> None:
    proc = aftershock("validate", str(BROKEN / name))
    assert proc.returncode == 2
    assert name in proc.stderr and "fix:" in proc.stderr


def test_validate_accepts_the_shipped_scenarios() -> None:
    proc = aftershock("validate", *sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml")))
    assert proc.returncode == 0, proc.stderr
    assert "ok  " in proc.stdout


def test_usage_errors_exit_2() -> None:
    assert aftershock("run").returncode == 2
    assert aftershock("frobnicate").returncode == 2
    assert aftershock("run", "no/such/file.yaml").returncode == 2


def test_list_shows_scenarios_and_targets() -> None:
    proc = aftershock("list")
    assert proc.returncode == 0
    assert "scenarios/db-latency.yaml" in proc.stdout
    assert "orders" in proc.stdout and "api->db" in proc.stdout


def test_version_and_help() -> None:
    assert "aftershock, version" in aftershock("--version").stdout
    assert "aftershock run scenarios/db-latency.yaml" in aftershock("--help").stdout


def test_cleanup_with_nothing_left_over_reports_zero() -> None:
    # scoped to a run that never existed: the test must not depend on (or sweep) other runs on the host
    proc = aftershock("cleanup", "--run", f"20000101-000000-{secrets.token_hex(2)}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 leftover process(es) removed" in proc.stdout
    assert "0 leftover directories removed" in proc.stdout
