"""The backstop: remove what a SIGKILLed run left on the Docker engine, found by its labels."""

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


# -- the backstop -------------------------------------------------------------------------
def sweep_docker(
    *, run_id: str | None = None, include_live: bool = False, client: DockerClient | None = None
) -> list[str]:
    """Remove containers, networks and volumes of runs whose owner is dead (or of ``run_id``).

    Only resources labelled by this machine (``aftershock.host``) are considered: an owner's pid
    means nothing on another host sharing the engine. Returns what was removed; failures are
    raised together after every removal was tried. Without an engine this returns ``[]`` at once.
    """
    from_here = socket.gethostname()
    if client is None:
        if engine_surely_absent():
            return []
        try:
            client = docker_client(timeout=10.0)
        except InfrastructureError:
            return []
        own_client = True
    else:
        own_client = False
    from docker.errors import NotFound

    def doomed(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        if RUN_LABEL not in labels or labels.get(HOST_LABEL, from_here) != from_here:
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
            exc.add_note(f"while removing {what}")
            errors.append(exc)

    try:
        for c in client.containers.list(all=True, filters={"label": RUN_LABEL}):
            if doomed(c.labels):
                remove(
                    f"container {c.name} (run {c.labels[RUN_LABEL]})",
                    functools.partial(c.remove, force=True, v=True),
                )
        for n in client.networks.list(filters={"label": RUN_LABEL}):
            labels = n.attrs.get("Labels") or {}
            if doomed(labels):
                remove(f"network {n.name} (run {labels[RUN_LABEL]})", n.remove)
        for v in client.volumes.list(filters={"label": RUN_LABEL}):
            labels = v.attrs.get("Labels") or {}
            if doomed(labels):
                remove(f"volume {v.name} (run {labels[RUN_LABEL]})", functools.partial(v.remove, force=True))
    finally:
        if own_client:
            with contextlib.suppress(Exception):
                client.close()
    if errors:
        raise ExceptionGroup(f"removing {len(errors)} docker leftover(s) failed", errors)
    return removed
