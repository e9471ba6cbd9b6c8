"""What keeps a target from running on Docker, found from its files before any engine is asked.

Kept apart from :mod:`harness.docker.backend` so the scenario checks can run it without the
Docker SDK or an engine: it reads ``target.yaml`` models and looks for Dockerfiles, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.docker.engine import CONTAINER_TARGET_DIR
from harness.errors import Problem
from harness.scenario.target import (
    PLACEHOLDER,
    SIMPLE_PLACEHOLDERS,
    Service,
    Target,
    needs_command_and_health,
)


def dockerfile_for(target_dir: Path, service: str, spec: Service) -> Path | None:
    """The Dockerfile a service is built from: ``docker.dockerfile``, ``docker/Dockerfile.<service>``,
    then ``docker/Dockerfile``; None if there is none (or the service names an image)."""
    if spec.docker is not None and spec.docker.image:
        return None
    if spec.docker is not None and spec.docker.dockerfile:
        return target_dir / spec.docker.dockerfile
    for candidate in (target_dir / "docker" / f"Dockerfile.{service}", target_dir / "docker" / "Dockerfile"):
        if candidate.is_file():
            return candidate
    return None


def docker_problems(target: Target, target_dir: Path) -> list[Problem]:
    """What keeps ``target`` from running on Docker, found before anything starts.

    The scenario loader checks ``command``/``env``; this checks the ``docker:`` sections and that
    every service has an image or a Dockerfile.
    """
    file = str(target_dir / "target.yaml")
    problems: list[Problem] = []
    for name, spec in target.services.items():
        problems += _reserved_name(file, name)
        problems += needs_command_and_health(file, name, spec, "docker")
        problems += _missing_image(file, target_dir, name, spec)
        problems += _bad_placeholders(file, target, name, spec)
    return problems


def _reserved_name(file: str, name: str) -> Iterator[Problem]:
    """``toxiproxy`` is the network alias of the run's own Toxiproxy container."""
    if name == "toxiproxy":
        yield Problem(
            file,
            f"services.{name}",
            "the name is taken by the run's Toxiproxy container (a network alias)",
            name,
            fix="rename the service",
        )


def _missing_image(file: str, target_dir: Path, name: str, spec: Service) -> Iterator[Problem]:
    """A service needs ``docker.image`` or a Dockerfile to build its image from."""
    docker = spec.docker
    if docker is not None and docker.image:
        return
    path = dockerfile_for(target_dir, name, spec)
    if path is None or not path.is_file():
        yield Problem(
            file,
            f"services.{name}",
            "no image for the docker backend" + (f": {path} does not exist" if path is not None else ""),
            None,
            fix=f"add {Path('docker') / f'Dockerfile.{name}'} to the target (`ARG BASE`,"
            f" `FROM ${{BASE}}`, code copied to {CONTAINER_TARGET_DIR}) or set"
            f" services.{name}.docker.image",
        )


def _bad_placeholders(file: str, target: Target, name: str, spec: Service) -> Iterator[Problem]:
    """Placeholders in ``docker.command``/``docker.env`` that the container cannot bind."""
    docker = spec.docker
    if docker is None:
        return
    texts = [(f"services.{name}.docker.command[{i}]", t) for i, t in enumerate(docker.command or [])]
    texts += [(f"services.{name}.docker.env.{k}", v) for k, v in docker.env.items()]
    for where, text in texts:
        for ph in PLACEHOLDER.finditer(text):
            key, arg = ph.group(1), ph.group(2)
            if key == "link":
                if arg not in target.links or arg.split("->")[0] != name:
                    yield Problem(
                        file,
                        where,
                        f"{{link:{arg}}} is not a link whose client is {name!r}",
                        arg,
                        fix=f"links are: {', '.join(target.links) or 'none'}",
                    )
            elif key not in SIMPLE_PLACEHOLDERS or arg is not None:
                yield Problem(
                    file,
                    where,
                    f"unknown placeholder {ph.group(0)}",
                    fix="use {python}, {port}, {host}, {link:a->b}, {target_dir}, {workdir} or {run_id}",
                )
