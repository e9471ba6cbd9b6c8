"""Container limits and the oom / cpu_starve faults: parsing, validation (exit 2 with file:line,
field, value, fix), the Compose override and the overlap rule. Real Docker runs are in
tests/integration/test_limits.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.compose import override as ov
from harness.errors import InfrastructureError, ScenarioError
from harness.faults import resources
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


# -- the oom fault: what a balloon's run brought about ------------------------------------------
@pytest.mark.parametrize(
    ("returncode", "kills", "died", "outcome"),
    [(0, 1, False, "service"), (3, 0, False, "none"),
     (-9, 2, False, "service"),  # the balloon was killed after the service: still the service's kill
     (-9, 1, True, "service"), (-9, 1, False, "balloon"), (-9, 0, False, "failed"),
     (9, 2, False, "service"), (9, 1, False, "balloon"),  # the balloon's dd was the one killed
     (3, 1, True, "service"),  # the service outgrew the lowered limit before the balloon began
     (3, 1, False, "failed"), (1, 0, False, "failed"), (-11, 1, True, "failed"),
     (-9, None, True, "service"), (3, None, True, "failed"),
     (0, None, False, "service")],  # the container ended and its cgroup was gone at once
)  # fmt: skip
def test_a_balloons_outcome(returncode: int, kills: int | None, died: bool, outcome: str) -> None:
    assert resources.pressure_outcome(returncode, kills, died) == outcome


class _Backend:
    """Just what ContainerOom asks of a container backend; the engine's answers are faked below."""

    name = "docker"
    client: Any = None

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, /, **fields: Any) -> None:
        self.events.append((kind, fields))

    def container_id(self, service: str) -> str:
        return "c" * 64

    def restart(self, service: str, wait: bool = True) -> None:
        self.events.append(("restart", {"service": service}))


class _Cgroup:
    """A memory cgroup whose kill count and processes change when the (faked) balloon runs."""

    def __init__(self, after_balloon: list[tuple[int, set[int]]]) -> None:
        self.kills, self.procs = 0, {10, 11}
        self.after_balloon = after_balloon  # (kill count, live pids) after each balloon, in turn
        self.adjs: dict[int, int] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch, returncodes: list[int]) -> list[list[str]]:
        runs: list[list[str]] = []
        state = {"Status": "running", "Pid": 10}

        def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
            runs.append(argv)
            self.kills, self.procs = self.after_balloon[len(runs) - 1]
            if 10 not in self.procs:
                state.update(Status="exited", ExitCode=137, OOMKilled=True)
            return subprocess.CompletedProcess(argv, returncodes[len(runs) - 1], "", "")

        cg = resources.cgroups
        monkeypatch.setattr(cg, "inspect", lambda client, cid: {"State": dict(state), "HostConfig": {}})
        monkeypatch.setattr(cg, "memory_cgroup", lambda pid: Path("/cg"))
        monkeypatch.setattr(cg, "memory_usage", lambda path: 20 * 2**20)
        monkeypatch.setattr(cg, "update", lambda client, cid, **f: None)
        monkeypatch.setattr(cg, "engine_memory", lambda client: 2**34, raising=False)
        monkeypatch.setattr(cg, "oom_kill_count", lambda path, gone_ok=False: self.kills, raising=False)
        monkeypatch.setattr(cg, "processes", lambda path: set(self.procs), raising=False)
        monkeypatch.setattr(cg, "oom_score_adjs", lambda pids: {}, raising=False)
        monkeypatch.setattr(cg, "set_oom_score_adjs", lambda values: None, raising=False)
        monkeypatch.setattr(resources.subprocess, "run", run)
        monkeypatch.setattr(resources, "SETTLE", 0.0)
        return runs


def test_a_balloon_killed_after_the_service_counts_as_the_services_oom_kill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _Cgroup([(2, set())]).install(monkeypatch, [-9])  # both killed: the service, then the balloon
    backend = _Backend()
    with resources.ContainerOom("app", backend, restart=True, within=5) as fault:
        assert fault.seen["ExitCode"] == 137
    assert len(runs) == 1
    kills = [f for kind, f in backend.events if kind == "service_oom_killed"]
    assert [(k["oom_killed"], k["exit_code"], k["status"]) for k in kills] == [(True, 137, "exited")]


def test_a_balloon_the_kernel_chose_over_the_service_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _Cgroup([(1, {10, 11}), (3, {11})]).install(monkeypatch, [-9, 0])
    backend = _Backend()
    with resources.ContainerOom("app", backend, restart=True, within=5) as fault:
        assert fault.seen["ExitCode"] == 137
    assert len(runs) == 2


def test_a_balloon_chosen_every_time_is_a_harness_failure_that_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _Cgroup([(1, {10, 11}), (2, {10, 11}), (3, {10, 11})]).install(monkeypatch, [-9, -9, -9])
    fault = resources.ContainerOom("app", _Backend(), restart=True, within=5)
    with pytest.raises(InfrastructureError, match="killed the memory balloon instead of a process") as err:
        fault.__enter__()
    assert len(runs) == resources.ATTEMPTS and "no service process died" in str(err.value)


def test_a_service_killed_by_the_lowered_limit_alone_needs_no_balloon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cgroup = _Cgroup([])
    runs = cgroup.install(monkeypatch, [])

    def update(client: Any, cid: str, **fields: int) -> None:
        if fields.get("Memory", 0) < 2**30:  # lowered: the service, growing, meets it at once
            cgroup.kills, cgroup.procs = 1, set()
            monkeypatch.setattr(
                resources.cgroups,
                "inspect",
                lambda c, i: {"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}},
            )

    monkeypatch.setattr(resources.cgroups, "update", update)
    with resources.ContainerOom("app", _Backend(), restart=True, within=5) as fault:
        assert fault.seen["ExitCode"] == 137
    assert runs == []
