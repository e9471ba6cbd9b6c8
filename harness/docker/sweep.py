"""The backstop: remove what a SIGKILLed run left on the Docker engine, found by its labels.

Two sweeps may run at once (two runs starting, a run and ``aftershock cleanup``): a resource the
other sweep is already removing answers 409 "removal ... already in progress", and a network
still has the endpoint of a container being removed for a moment. Both count as gone (after a
short wait for the network), never as failures.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import time
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


IN_USE_WAIT = 10.0  # how long a network or volume another sweep is emptying may stay in use


def already_going(exc: BaseException) -> bool:
    """Docker's answer when another caller is removing the same resource right now."""
    status = getattr(exc, "status_code", None)
    return status == 409 and "already in progress" in str(exc)


def still_in_use(exc: BaseException) -> bool:
    """A network with endpoints or a volume in use: a container is still being removed."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return status in (403, 409) and ("active endpoints" in text or "in use" in text)


# -- the backstop -------------------------------------------------------------------------
def sweep_docker(
    *,
    run_id: str | None = None,
    include_live: bool = False,
    client: DockerClient | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Remove containers, networks and volumes of runs whose owner is dead (or of ``run_id``).

    Only resources labelled by this machine (``aftershock.host``) are considered: an owner's pid
    means nothing on another host sharing the engine. Returns what was removed (with ``dry_run``,
    what would be, touching nothing); failures are raised together after every removal was
    tried. Without an engine this returns ``[]`` at once.
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
        if dry_run:
            removed.append(what)
            return
        deadline = time.monotonic() + IN_USE_WAIT
        while True:
            try:
                fn()
                removed.append(what)
            except NotFound:
                pass
            except Exception as exc:
                if already_going(exc):
                    pass  # another sweep is removing it: gone
                elif still_in_use(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                else:
                    exc.add_note(f"while removing {what}")
                    errors.append(exc)
            return

    try:
        for c in client.containers.list(all=True, filters={"label": RUN_LABEL}, ignore_removed=True):
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
