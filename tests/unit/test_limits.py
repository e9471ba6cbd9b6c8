"""Container limits and the oom / cpu_starve faults: parsing, validation (exit 2 with file:line,
field, value, fix), the Compose override and the overlap rule. Real Docker runs are in
tests/integration/test_limits.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.compose import override as ov
from harness.errors import ScenarioError
from harness.scenario.limits import Limits, format_memory, parse_memory
from harness.scenario.loader import load_scenario

LIMITS = Path(__file__).resolve().parents[1] / "fixtures" / "limits"


@pytest.mark.parametrize(
    ("text", "size"),
    [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("1g", 2**30), ("64m", 64 * 2**20), (67108864, 64 * 2**20),
     ("6144Ki", 6 * 2**20), (" 1.5Gi ", 3 * 2**29), ("8388608b", 8 * 2**20)],
)  # fmt: skip
def test_memory_sizes_in_binary_units(text: object, size: int) -> None:
    assert parse_memory(text) == size
    assert parse_memory(format_memory(size)) == size


@pytest.mark.parametrize(
    ("text", "why"),
    [("256M", "unit 'M'"), ("1GB", "unit 'GB'"), ("lots", "not a memory size"), (True, "not a memory size"),
     ("5Mi", "under Docker's minimum of 6Mi"), (1000, "under Docker's minimum"),
     ("7340032.5", "whole number"), ("2000000Gi", "more memory than any machine")],
)  # fmt: skip
def test_memory_sizes_refused_with_the_fix(text: object, why: str) -> None:
    with pytest.raises(ValueError, match="fix:") as err:
        parse_memory(text)
    assert why in str(err.value)


def test_a_scenarios_limits_win_field_by_field() -> None:
    own = Limits(memory=96 * 2**20, cpus=1.5)
    assert own.merged(Limits(memory=80 * 2**20)) == Limits(memory=80 * 2**20, cpus=1.5)
    assert own.merged(None) == own
    assert Limits(cpus=0.5).nano_cpus == 500_000_000


SCENARIO = """\
name: s
target:
  name: {target}
  limits:
    {limits}
backend: {backend}
load: {{duration: 14s}}
slo: {{hold: 2s}}
faults:
  - {fault}
"""


def _write(tmp_path: Path, **kw: str) -> Path:
    values = {"target": str(LIMITS), "limits": "app: {memory: 64Mi}", "backend": "docker"}
    values["fault"] = "{kind: cpu_starve, service: app, cpus: 0.1, at: 2s, duration: 2s}"
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(**{**values, **kw}))
    return path


def _problems(path: Path, backend: str | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, backend=backend)
    return [str(p) for p in err.value.problems]


def test_a_valid_scenario_lays_its_limits_over_the_targets(tmp_path: Path) -> None:
    loaded = load_scenario(_write(tmp_path))
    assert loaded.target.services["app"].limits == Limits(memory=64 * 2**20, cpus=1.5)


def test_the_process_backend_refuses_the_faults_and_the_limits(tmp_path: Path) -> None:
    path = _write(tmp_path, fault="{kind: oom, service: app, at: 2s}")
    problems = _problems(path, backend="process")
    assert problems[0] == (
        f"{path}:10: faults[0].kind: `oom` acts on a container's cgroup limits; the process backend has none"
        " (got 'oom')\n    fix: use backend: docker or compose (or `--backend docker`)"
    )
    assert problems[1].startswith(f"{path}:5: target.limits.app: limits are container limits")
    assert problems[2].startswith(
        f"{LIMITS / 'target.yaml'}:8: services.app.limits: limits are container limits"
    )
    result = CliRunner().invoke(main, ["validate", str(path), "--backend", "process"])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (
            "app: {memory: 64MB}",
            ":5: target.limits.app.memory: unit 'MB' of '64MB' is not one aftershock takes",
        ),
        ("app: {memory: 4Mi}", ":5: target.limits.app.memory: '4Mi' is under Docker's minimum of 6Mi"),
        (
            "app: {cpus: 0}",
            ":5: target.limits.app.cpus: Input should be greater than or equal to 0.01",
        ),
        ("app: {cpus: -1}", ":5: target.limits.app.cpus:"),
        ("ap: {cpus: 1}", ":5: target.limits.ap: no such service in the target (got 'ap')"),
        ("app: {memory: 64Mi, disk: 1Gi}", ":5: target.limits.app.disk: unknown field 'disk'"),
    ],
)
def test_bad_limit_values_name_file_line_field_value(tmp_path: Path, limits: str, expected: str) -> None:
    path = _write(tmp_path, limits=limits)
    problems = _problems(path)
    assert any(p.startswith(f"{path}{expected}") for p in problems), problems
    assert all("fix:" in p for p in problems), problems


def test_a_starvation_must_leave_less_than_the_services_own_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, fault="{kind: cpu_starve, service: app, cpus: 1.5, at: 2s, duration: 2s}")
    assert _problems(path) == [
        f"{path}:10: faults[0].cpus: not below the service's own limit of 1.5 CPUs: nothing would be starved"
        " (got 1.5)\n    fix: give cpus below 1.5"
    ]


def test_an_oom_and_a_crash_of_one_service_may_not_overlap(tmp_path: Path) -> None:
    fault = "{kind: oom, service: app, at: 2s, within: 3s}\n  - {kind: crash, service: app, at: 4s}"
    problems = _problems(_write(tmp_path, fault=fault))
    assert len(problems) == 1 and "faults[1]: overlaps faults[0] on service app" in problems[0], problems


def test_the_compose_override_states_the_limits_in_both_spellings() -> None:
    project: dict[str, Any] = {"services": {"api": {"networks": {"default": None}}, "db": {}}}
    plan = ov.Plan(
        links=(),
        published={},
        labels={"aftershock.run_id": "r"},
        environment={},
        images={},
        toxiproxy_image="tp",
        toxiproxy_api=(1, 2),
        limits={"api": (64 * 2**20, 0.5), "db": (None, 2.0)},
    )
    services = ov.build_override(project, plan)["services"]
    assert {k: services["api"][k] for k in ("mem_limit", "memswap_limit", "cpus", "deploy")} == {
        "mem_limit": 64 * 2**20,
        "memswap_limit": 64 * 2**20,  # no swap beyond the limit
        "cpus": 0.5,
        "deploy": {"resources": {"limits": {"memory": f"{64 * 2**20}b", "cpus": 0.5}}},
    }
    assert services["db"]["deploy"] == {"resources": {"limits": {"cpus": 2.0}}}
    assert "mem_limit" not in services["db"]
