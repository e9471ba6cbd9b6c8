"""A Compose target's services as Compose itself reads them, merged into the target model.

``target.yaml`` of a Compose target lists only what aftershock needs to know beyond the Compose
file (links, entrypoint, a health or port here and there); the services and their start order
come from the real ``compose config``, never from parsing the file by hand.
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
