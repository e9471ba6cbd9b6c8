"""Read a scenario and its target, check everything, report every problem at once.

The steps, each its own module: read the YAML bounded and line-mapped (:mod:`.yamlsource`),
build the typed model (:mod:`.problems` turns pydantic's errors into file:line problems), find
the target (:mod:`.lookup`), check the target's rules (:mod:`.target_checks`) and the
scenario's rules against it (:mod:`.checks`). Errors name the file, the line, the field, the
value and the fix. Nothing is started here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import Problem, ScenarioError
from harness.scenario.backend_rules import rules_for
from harness.scenario.checks import ScenarioContext, check_scenario
from harness.scenario.inline import inline_target, with_limits
from harness.scenario.lookup import available_targets as _available
from harness.scenario.lookup import find_target, search_roots
from harness.scenario.models import Scenario
from harness.scenario.overlap import partition_links
from harness.scenario.problems import validate
from harness.scenario.target import Target
from harness.scenario.target_checks import check_target
from harness.scenario.yamlsource import YamlDocument, read_yaml

__all__ = [
    "LoadedScenario",
    "available_targets",
    "find_target_dir",
    "load_scenario",
    "load_target",
    "parse_scenario",
    "partition_links",
]


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario that validated, with the target it names."""

    scenario: Scenario
    path: Path
    target: Target
    target_dir: Path
    warnings: tuple[str, ...] = ()  # worth knowing, not wrong (e.g. paths no link covers)


def load_scenario(path: Path | str, backend: str | None = None) -> LoadedScenario:
    """Parse and check a scenario and its target. Raises :class:`ScenarioError` listing every problem.

    ``backend`` overrides the scenario's (as ``run --backend`` does): what a target needs to run
    depends on it (programs on this host, or Dockerfiles).
    """
    path = Path(path)
    scenario, doc = _parse(path)
    if scenario.target.compose is not None:  # an inline Compose target (harness.scenario.inline)
        target, target_doc, target_dir = inline_target(scenario, doc, backend or scenario.backend)
    else:
        target_dir = _target_dir(scenario, doc, path)
        target, target_doc = _load_target(target_dir)
    ctx = ScenarioContext(scenario, doc, target, target_dir, backend or scenario.backend, target_doc)
    problems = check_scenario(ctx)
    if problems:
        raise ScenarioError(problems)
    target = with_limits(target, scenario)  # the scenario's limits over target.yaml's
    warnings = _reach_warnings(target, target_dir, backend or scenario.backend)
    return LoadedScenario(
        scenario=scenario, path=path, target=target, target_dir=target_dir, warnings=warnings
    )


def _reach_warnings(target: Target, target_dir: Path, backend: str) -> tuple[str, ...]:
    """What the backend finds worth knowing (Compose: services that may reach each other outside
    every declared link)."""
    warn = rules_for(backend).warnings
    return () if warn is None else warn(target, target_dir)


def parse_scenario(path: Path | str) -> Scenario:
    """The scenario model alone, without resolving its target (for analysing a finished run)."""
    return _parse(Path(path))[0]


def load_target(target_dir: Path) -> Target:
    """The checked model of ``target_dir/target.yaml``."""
    return _load_target(target_dir)[0]


def find_target_dir(name: str, scenario_path: Path) -> Path | None:
    """Where target ``name`` lives (see :mod:`harness.scenario.lookup` for the rule)."""
    return find_target(name, scenario_path.parent, _roots(scenario_path)).directory


def available_targets(scenario_path: Path | None = None) -> list[str]:
    return _available(search_roots(_roots(scenario_path) if scenario_path is not None else ()))


# -- steps ---------------------------------------------------------------------------------
def _load_target(target_dir: Path) -> tuple[Target, YamlDocument]:
    doc = read_yaml(target_dir / "target.yaml")
    if isinstance(doc.data, dict) and "name" not in doc.data:
        doc = YamlDocument(doc.file, {**doc.data, "name": target_dir.name}, doc.lines)
    target = validate(Target, doc)
    if target.compose is not None and not any(s.command for s in target.services.values()):
        complete = rules_for("compose").complete  # a Compose-only target: services from Compose
        if complete is not None:
            target = complete(target, target_dir)
    problems = check_target(target, doc)
    if problems:
        raise ScenarioError(problems)
    return target, doc


def _parse(path: Path) -> tuple[Scenario, YamlDocument]:
    doc = read_yaml(path)
    if isinstance(doc.data, dict) and "name" not in doc.data:
        doc = YamlDocument(doc.file, {**doc.data, "name": path.stem}, doc.lines)
    return validate(Scenario, doc), doc


def _roots(scenario_path: Path) -> list[Path]:
    """Beside the scenarios directory: ``scenarios/x.yaml`` finds ``targets/<name>``."""
    return [scenario_path.resolve().parent.parent / "targets"]


def _target_dir(scenario: Scenario, doc: YamlDocument, path: Path) -> Path:
    found = find_target(scenario.target.name, path.parent, _roots(path))
    if found.directory is None:
        where = ("target", "name") if ("target", "name") in doc.lines else ("target",)
        raise ScenarioError(
            [Problem(doc.file, "target", found.problem, scenario.target.name, doc.line(where), found.fix)]
        )
    return found.directory
