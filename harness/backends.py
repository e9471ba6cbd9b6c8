"""The backends this harness ships, wired to the scenario layer's hooks.

:mod:`harness.scenario.backend_rules` names what only a backend knows; this module, imported by
the package facade (so every entry point, the CLI, the pytest plugin and a library caller of
:func:`harness.load_scenario` alike, validates the same way), fills it in. The hooks read files
or run ``compose config``; none imports the Docker SDK, and each imports its backend's
modules only when called (``import harness`` stays cheap).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import Problem
from harness.scenario.backend_rules import BackendRules, register
from harness.scenario.target import Target


def dockerfile_problems(target: Target, target_dir: Path) -> list[Problem]:
    """:func:`~harness.docker.problems.docker_problems`, with a Dockerfile path the OS refuses
    (too long, a NUL) as a problem."""
    from harness.docker.problems import docker_problems

    try:
        return docker_problems(target, target_dir)
    except (OSError, ValueError) as exc:
        file = str(target_dir / "target.yaml")
        return [Problem(file, "services", f"a Docker file path is unusable: {exc}", fix="fix the path")]


def compose_services(target: Target, target_dir: Path) -> Target:
    """A Compose-only target's services, from ``compose config`` of its file."""
    from harness.compose.project import complete_target

    return complete_target(target, target_dir)


def compose_direct_paths(target: Target, target_dir: Path) -> tuple[str, ...]:
    """Compose services that may reach each other outside every declared link (a warning each)."""
    if target.compose is None:
        return ()
    from harness.compose.reach import direct_paths

    links = [target.link_ends(link) for link in target.links]
    return tuple(p.warning() for p in direct_paths(target_dir / target.compose, links))


def wire() -> None:
    """Register the shipped backends' rules (idempotent)."""
    register("process", BackendRules())
    register("docker", BackendRules(problems=dockerfile_problems))
    register("compose", BackendRules(complete=compose_services, warnings=compose_direct_paths))


wire()
