"""A Compose target written inside the scenario: ``target: {compose: ..., links: [...], entrypoint: api}``.

The same target a ``target.yaml`` beside a Compose file would describe, for a system whose team
wants one file: paths (the Compose file, the locustfile) are relative to the scenario file, the
target's directory is the scenario's, and every problem names the scenario's file and line under
``target.``. It runs on the compose backend only (its services have no commands to start).
And the scenario's per-service ``limits`` are laid over the target's here, once, so that the
backends read one place: ``services.<name>.limits``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import Problem, ScenarioError
from harness.scenario.backend_rules import rules_for
from harness.scenario.lookup import is_file
from harness.scenario.models import INLINE_TARGET_FIELDS, Scenario
from harness.scenario.problems import validate
from harness.scenario.target import Service, Target
from harness.scenario.target_checks import check_target
from harness.scenario.yamlsource import YamlDocument

ROOT = ("target",)


def inline_target(scenario: Scenario, doc: YamlDocument, backend: str) -> tuple[Target, YamlDocument, Path]:
    """The target, its document (the ``target:`` mapping, lines of the scenario file) and its
    directory (the scenario's); a :class:`ScenarioError` with every problem otherwise."""
    ref = scenario.target
    assert ref.compose is not None
    target_dir = Path(doc.file).resolve().parent
    sub = _subdocument(doc, ref.name)
    where = sub.line(("compose",))
    if backend != "compose":
        message = f"an inline Compose target cannot run on the {backend} backend"
        fix = "set `backend: compose` (or --backend compose)"
        raise ScenarioError([_under(Problem(sub.file, "compose", message, ref.compose, where, fix))])
    if not is_file(target_dir / ref.compose):
        message = f"no such file (looked at {target_dir / ref.compose})"
        fix = "give the Compose file's path relative to the scenario"
        raise ScenarioError([_under(Problem(sub.file, "compose", message, ref.compose, where, fix))])
    try:
        target = validate(Target, sub)
    except ScenarioError as exc:
        raise ScenarioError([_under(p) for p in exc.problems]) from None
    complete = rules_for("compose").complete  # services and their order from Compose
    if complete is not None:
        target = complete(target, target_dir)
    problems = [_under(p) for p in check_target(target, sub)]
    if problems:
        raise ScenarioError(problems)
    return target, sub, target_dir


def with_limits(target: Target, scenario: Scenario) -> Target:
    """``target`` with the scenario's ``target.limits`` over each service's own (unknown services
    are left to the checks, which report them)."""
    if not scenario.target.limits:
        return target
    services: dict[str, Service] = dict(target.services)
    for name, over in scenario.target.limits.items():
        spec = services.get(name)
        if spec is None:
            continue
        merged = over if spec.limits is None else spec.limits.merged(over)
        services[name] = spec.model_copy(update={"limits": merged})
    return target.model_copy(update={"services": services})


def _subdocument(doc: YamlDocument, name: str) -> YamlDocument:
    data = doc.data["target"]
    kept = {"name": name, **{k: v for k, v in data.items() if k in INLINE_TARGET_FIELDS}}
    lines = {where[1:]: line for where, line in doc.lines.items() if where[:1] == ROOT}
    return YamlDocument(doc.file, kept, lines)


def _under(problem: Problem) -> Problem:
    """A problem of the inline target, named as the scenario writes it: ``target.links[0]``."""
    field = problem.field if problem.field.startswith("(") else f"target.{problem.field}"
    return dataclasses.replace(problem, field=field)
