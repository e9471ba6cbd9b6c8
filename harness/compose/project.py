"""A Compose project as Compose itself resolves it, and what the target model needs from it.

``target.yaml`` of a Compose target lists only what aftershock needs to know beyond the Compose
file (links, entrypoint, a health or port here and there); the services, their start order and
their ports come from the real ``compose config``, never from parsing the file by hand; and what
keeps a target from running on its file is found here before anything starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.compose.cli import ComposeCLI
from harness.compose.provision import find_compose
from harness.errors import InfrastructureError, Problem, ScenarioError
from harness.scenario.target import Service, Target


def resolved_project(compose_file: Path, binary: Path | None = None) -> dict[str, Any]:
    """``compose config`` of the application's file alone (nothing is started)."""
    cli = ComposeCLI(binary or find_compose(), "aftershock-check", [compose_file], compose_file.parent)
    return cli.config()


def depends_on(svc: dict[str, Any]) -> list[str]:
    deps = svc.get("depends_on") or {}
    return sorted(deps) if isinstance(deps, dict) else sorted(str(d) for d in deps)


def complete_target(target: Target, target_dir: Path) -> Target:
    """``target`` with every service of its Compose file (undeclared ones get defaults) and each
    service's ``depends_on`` taken from Compose, so the start order follows the application's."""
    assert target.compose is not None
    path = (target_dir / target.compose).resolve()
    if not path.is_file():
        raise ScenarioError(
            [
                Problem(
                    str(target_dir / "target.yaml"),
                    "compose",
                    "no such file",
                    target.compose,
                    fix="give the Compose file's path relative to the target directory",
                )
            ]
        )
    binary = find_compose()  # a missing Compose is the machine's problem (exit 3), not the file's
    try:
        project = resolved_project(path, binary)
    except InfrastructureError as exc:
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    "(file)",
                    f"Compose cannot read it: {exc}",
                    fix="`docker compose config` shows why",
                )
            ]
        ) from None
    services = dict(target.services)
    for name, svc in (project.get("services") or {}).items():
        declared = services.get(name) or Service()
        if not declared.depends_on:
            declared = declared.model_copy(update={"depends_on": depends_on(svc)})
        services[name] = declared
    return target.model_copy(update={"services": services})


def declared_port(svc: dict[str, Any]) -> int | None:
    """The one container port a resolved Compose service declares (``expose``, then ``ports``)."""
    found: list[int] = []
    for item in svc.get("expose") or []:
        text = str(item).split("/")[0]
        if text.isdigit():
            found.append(int(text))
    if not found:
        for item in svc.get("ports") or []:
            target = item.get("target") if isinstance(item, dict) else None
            if isinstance(target, int):
                found.append(target)
    return found[0] if len(set(found)) == 1 else None


def compose_problems(target: Target, target_dir: Path, project: dict[str, Any]) -> list[Problem]:
    """What keeps ``target`` from running on its Compose file, found before anything starts."""
    file = str(target_dir / "target.yaml")
    names = set(project.get("services") or {})
    problems: list[Problem] = []
    for name in sorted(names - set(target.services)):
        problems.append(
            Problem(
                file,
                "services",
                f"service {name!r} of {target.compose} is not in target.yaml, so nothing would start it",
                name,
                fix=f"add `{name}: {{}}` under services (or list no commands at all: Compose-only targets"
                " take every service from Compose)",
            )
        )
    for name in target.services:
        if name not in names:
            problems.append(
                Problem(
                    file,
                    f"services.{name}",
                    f"no such service in {target.compose}",
                    name,
                    fix=f"services there are: {', '.join(sorted(names))}",
                )
            )
    for name in names:
        if name.startswith("aftershock-"):
            problems.append(
                Problem(
                    str(target_dir / str(target.compose)),
                    f"services.{name}",
                    "names starting with 'aftershock-' are the run's own",
                    name,
                    fix="rename it",
                )
            )
    for i, link in enumerate(target.links):
        for end in target.link_ends(link):
            if end not in names:
                problems.append(
                    Problem(
                        file,
                        f"links[{i}]",
                        f"no service {end!r} in {target.compose}",
                        link,
                        fix=f"services there are: {', '.join(sorted(names))}",
                    )
                )
    for needed in [target.entrypoint, *(a.service for a in target.audit)]:
        if needed not in names:
            problems.append(
                Problem(file, "entrypoint/audit", f"no service {needed!r} in {target.compose}", needed)
            )
    return problems
