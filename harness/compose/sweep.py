"""The backstop for Compose runs: remove whole projects that a SIGKILLed harness left behind.

Everything the override declares carries the run's labels, so :func:`harness.docker.sweep.sweep_docker`
would find most of it; this sweep goes by *project* (``com.docker.compose.project``) so that what
Compose creates without our labels (a volume an image declares, a container created before the
override was rewritten) goes too. :func:`sweep_engine` (what a run's start and ``aftershock
cleanup`` call) lists the engine once, removes those projects first (the Docker sweep would
otherwise remove the labelled containers a project is recognised by), then the rest by the Docker
sweep's rules.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from harness.compose.cli import project_name
from harness.docker import images
from harness.docker.sweep import (
    IN_USE_WAIT,
    Doomed,
    Labelled,
    Removals,
    dead_runs,
    labels_of,
    list_labelled,
    remove_leftovers,
    sweep_client,
)

if TYPE_CHECKING:
    from docker import DockerClient

PROJECT_LABEL = "com.docker.compose.project"


def removal_in_progress(exc: BaseException) -> bool:
    """True for the engine's 409 "removal ... is already in progress": another sweeper on the same
    engine (a concurrent run's start, another ``aftershock cleanup``) is removing it. Not a failure."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status == 409 and "already in progress" in str(exc)


def sweep_engine(
    *,
    run_id: str | None = None,
    include_live: bool = False,
    client: DockerClient | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Both sweeps from one listing of the engine: whole Compose projects of dead runs first, then
    every other labelled container, network and volume of dead runs (:func:`sweep_docker`'s rules).

    With ``dry_run`` nothing is touched and every leftover is listed by its run. Returns what was
    removed; every removal is tried, and the failures of both are raised together.
    """
    projects = Removals(already_gone=removal_in_progress)
    rest = Removals(in_use_wait=IN_USE_WAIT, dry_run=dry_run)
    with sweep_client(client) as engine:
        if engine is None:
            return []
        doomed = dead_runs(run_id=run_id, include_live=include_live)
        listing = list_labelled(engine)
        gone = set() if dry_run else _projects(listing, doomed)
        for project in sorted(gone):
            _remove_project(engine, project, projects)
        if not dry_run:
            _remove_dangling_builds(engine, run_id, projects)
        remove_leftovers(listing.without(lambda labels: labels.get(PROJECT_LABEL) in gone), doomed, rest)
    errors = projects.errors + rest.errors
    if errors:
        raise ExceptionGroup(f"removing {len(errors)} docker leftover(s) failed", errors)
    return projects.removed + rest.removed


def _projects(listing: Labelled, doomed: Doomed) -> set[str]:
    """The Compose projects any labelled container, network or volume of a dead run belongs to."""
    labelled = (labels_of(r) for items in listing.kinds() for r in items)
    return {labels[PROJECT_LABEL] for labels in labelled if PROJECT_LABEL in labels and doomed(labels)}


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


def _remove_dangling_builds(client: DockerClient, run_id: str | None, removals: Removals) -> None:
    """Images a run's build left untagged (not used by anything, whoever's run it was)."""
    only = project_name(run_id) if run_id is not None else None
    for image_id, project in images.dangling_run_builds(client, only):
        removals.remove(
            f"image {image_id.removeprefix('sha256:')[:12]} (untagged, built for {project})",
            functools.partial(_remove_unused_image, client, image_id),
        )


def _remove_unused_image(client: DockerClient, image_id: str) -> None:
    """An untagged image, unless a container took it into use meanwhile (Docker's 409 conflict)."""
    from docker.errors import APIError

    try:
        client.images.remove(image_id)
    except APIError as exc:
        if exc.status_code != 409:
            raise
