"""The backstop for Compose runs: remove whole projects that a SIGKILLed harness left behind.

Everything the override declares carries the run's labels, so :func:`harness.docker.sweep.sweep_docker`
would find most of it; this sweep goes by *project* (``com.docker.compose.project``) so that what
Compose creates without our labels (a volume an image declares, a container created before the
override was rewritten) goes too. It runs before the Docker sweep, which would otherwise remove the
labelled containers this one recognises the project by.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.compose.cli import project_name
from harness.docker import images
from harness.docker.engine import RUN_LABEL
from harness.docker.sweep import Removals, left_by_dead_run, sweep_client

if TYPE_CHECKING:
    from docker import DockerClient

PROJECT_LABEL = "com.docker.compose.project"


def removal_in_progress(exc: BaseException) -> bool:
    """True for the engine's 409 "removal ... is already in progress": another sweeper on the same
    engine (a concurrent run's start, another ``aftershock cleanup``) is removing it. Not a failure."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status == 409 and "already in progress" in str(exc)


def sweep_compose(
    *, run_id: str | None = None, include_live: bool = False, client: DockerClient | None = None
) -> list[str]:
    """Remove every container, network and volume of Compose projects of dead runs (or ``run_id``).

    A project is a dead run's when a resource of it carries our run label, this host's name and
    an owner that no longer runs. Returns what was removed; failures are raised together.
    """
    here = socket.gethostname()
    removals = Removals(already_gone=removal_in_progress)
    with sweep_client(client) as engine:
        if engine is None:
            return []

        def doomed(labels: dict[str, str]) -> bool:
            return PROJECT_LABEL in labels and left_by_dead_run(
                labels, here=here, run_id=run_id, include_live=include_live
            )

        for project in sorted(_projects(engine, doomed)):
            _remove_project(engine, project, removals)
        # Images a run's build left untagged (not used by anything, whoever's run it was).
        only = project_name(run_id) if run_id is not None else None
        for image_id, project in images.dangling_run_builds(engine, only):
            removals.remove(
                f"image {image_id.removeprefix('sha256:')[:12]} (untagged, built for {project})",
                functools.partial(_remove_unused_image, engine, image_id),
            )
    removals.raise_failures("compose")
    return removals.removed


def _projects(client: DockerClient, doomed: Callable[[dict[str, str]], bool]) -> set[str]:
    """The Compose projects any labelled container, network or volume of a dead run belongs to."""
    projects: set[str] = set()
    for c in client.containers.list(all=True, filters={"label": [RUN_LABEL, PROJECT_LABEL]}):
        if doomed(c.labels or {}):
            projects.add(c.labels[PROJECT_LABEL])
    for n in client.networks.list(filters={"label": [RUN_LABEL, PROJECT_LABEL]}):
        if doomed(n.attrs.get("Labels") or {}):
            projects.add(n.attrs["Labels"][PROJECT_LABEL])
    for v in client.volumes.list(filters={"label": [RUN_LABEL, PROJECT_LABEL]}):
        if doomed(v.attrs.get("Labels") or {}):
            projects.add(v.attrs["Labels"][PROJECT_LABEL])
    return projects


def _remove_project(client: DockerClient, project: str, removals: Removals) -> None:
    """Everything of ``project``, labelled by us or not: containers, then networks, then volumes."""
    mine: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
    for c in client.containers.list(all=True, filters=mine):
        removals.remove(
            f"container {c.name} (compose project {project})",
            functools.partial(c.remove, force=True, v=True),
        )
    for n in client.networks.list(filters=mine):
        removals.remove(f"network {n.name} (compose project {project})", n.remove)
    for v in client.volumes.list(filters=mine):
        removals.remove(
            f"volume {v.name} (compose project {project})", functools.partial(v.remove, force=True)
        )


def _remove_unused_image(client: DockerClient, image_id: str) -> None:
    """An untagged image, unless a container took it into use meanwhile (Docker's 409 conflict)."""
    from docker.errors import APIError

    try:
        client.images.remove(image_id)
    except APIError as exc:
        if exc.status_code != 409:
            raise
