"""The backstop for Compose runs: remove whole projects that a SIGKILLed harness left behind.

Everything the override declares carries the run's labels, so :func:`harness.docker.sweep.sweep_docker`
would find most of it; this sweep goes by *project* (``com.docker.compose.project``) so that what
Compose creates without our labels (a volume an image declares, a container created before the
override was rewritten) goes too. It runs before the Docker sweep, which would otherwise remove the
labelled containers this one recognises the project by.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.docker.engine import (
    HOST_LABEL,
    OWNER_LABEL,
    RUN_LABEL,
    docker_client,
    engine_surely_absent,
    owner_running,
)
from harness.errors import InfrastructureError

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
    own = client is None
    if client is None:
        if engine_surely_absent():
            return []
        try:
            client = docker_client(timeout=10.0)
        except InfrastructureError:
            return []
    from docker.errors import NotFound

    def doomed(labels: dict[str, str]) -> bool:
        if RUN_LABEL not in labels or PROJECT_LABEL not in labels or labels.get(HOST_LABEL, here) != here:
            return False
        if run_id is not None and labels[RUN_LABEL] != run_id:
            return False
        return include_live or not owner_running(labels.get(OWNER_LABEL, ""))

    removed: list[str] = []
    errors: list[Exception] = []

    def remove(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
            removed.append(what)
        except NotFound:
            pass
        except Exception as exc:
            if removal_in_progress(exc):
                return
            exc.add_note(f"while removing {what}")
            errors.append(exc)

    try:
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
        for project in sorted(projects):
            mine: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
            for c in client.containers.list(all=True, filters=mine):
                remove(
                    f"container {c.name} (compose project {project})",
                    functools.partial(c.remove, force=True, v=True),
                )
            for n in client.networks.list(filters=mine):
                remove(f"network {n.name} (compose project {project})", n.remove)
            for v in client.volumes.list(filters=mine):
                remove(
                    f"volume {v.name} (compose project {project})", functools.partial(v.remove, force=True)
                )
    finally:
        if own:
            with contextlib.suppress(Exception):
                client.close()
    if errors:
        raise ExceptionGroup(f"removing {len(errors)} compose leftover(s) failed", errors)
    return removed
