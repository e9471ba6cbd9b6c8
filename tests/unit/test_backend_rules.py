"""The scenario layer knows no backend: backends register the rules only they know."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.errors import InfrastructureError, Problem, ScenarioError
from harness.scenario import backend_rules
from harness.scenario.backend_rules import BackendRules, register, rules_for
from harness.scenario.loader import load_scenario
from harness.scenario.target import Target

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "harness" / "scenario"
BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "broken"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_scenario_module_imports_a_backend() -> None:
    against_the_flow = {
        f"{path.name}: {module}"
        for path in sorted(SCENARIO_DIR.glob("*.py"))
        for module in imported_modules(path)
        if module.startswith(("harness.docker", "harness.compose", "harness.targets"))
    }
    assert against_the_flow == set()


def test_the_shipped_backends_are_wired_by_importing_harness() -> None:
    assert rules_for("docker").problems is not None
    assert rules_for("compose").complete is not None
    assert rules_for("process") == BackendRules()


def test_a_backend_nobody_registered_is_an_error_not_a_skipped_check() -> None:
    with pytest.raises(InfrastructureError, match="no rules registered for the 'podman' backend"):
        rules_for("podman")


def test_a_registered_rule_runs_for_its_backend_with_the_line_of_its_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_arm64(target: Target, target_dir: Path) -> list[Problem]:
        return [Problem(str(target_dir / "target.yaml"), "services.api", "no arm64 image", fix="build one")]

    monkeypatch.setitem(backend_rules._REGISTERED, "docker", BackendRules(problems=no_arm64))
    with pytest.raises(ScenarioError) as info:
        load_scenario(BROKEN / "docker-no-dockerfiles.yaml")
    assert "no-dockerfiles/target.yaml:4: services.api: no arm64 image" in str(info.value)
    load_scenario(BROKEN / "docker-no-dockerfiles.yaml", backend="process")  # not the docker rule


def test_registering_again_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backend_rules._REGISTERED, "process", BackendRules())
    register("process", BackendRules(problems=lambda t, d: []))
    assert rules_for("process").problems is not None


SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "db-latency.yaml"


def test_the_compose_warning_reaches_the_loaded_scenario_through_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (warning,) = load_scenario(SHIPPED, backend="compose").warnings  # the shipped hook, on orders
    assert "services api and worker share the Compose network 'default'" in warning
    assert load_scenario(SHIPPED, backend="process").warnings == ()
    compose = rules_for("compose")
    monkeypatch.setitem(
        backend_rules._REGISTERED,
        "compose",
        BackendRules(complete=compose.complete, warnings=lambda t, d: ("w",)),
    )
    assert load_scenario(SHIPPED, backend="compose").warnings == ("w",)
