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
from collections.abc import Callable, Iterator
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
#: Said of a leftover this sweep found but another removed first: still one line per resource.
ALREADY_GONE = "gone already (another cleanup or a run's start removed it meanwhile)"


def already_going(exc: BaseException) -> bool:
    """Docker's answer when another caller is removing the same resource right now."""
    status = getattr(exc, "status_code", None)
    return status == 409 and "already in progress" in str(exc)


def still_in_use(exc: BaseException) -> bool:
    """A network with endpoints or a volume in use: a container is still being removed."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return status in (403, 409) and ("active endpoints" in text or "in use" in text)


# -- what both sweeps share ---------------------------------------------------------------
@contextlib.contextmanager
def sweep_client(client: DockerClient | None) -> Iterator[DockerClient | None]:
    """``client`` as given, else one of our own (closed after), else None when no engine answers:
    a sweep without an engine has nothing to do."""
    if client is not None:
        yield client
        return
    if engine_surely_absent():
        yield None
        return
    try:
        own = docker_client(timeout=10.0)
    except InfrastructureError:
        yield None
        return
    try:
        yield own
    finally:
        with contextlib.suppress(Exception):
            own.close()


def left_by_dead_run(labels: dict[str, str], *, here: str, run_id: str | None, include_live: bool) -> bool:
    """Labelled by a run on this host (``run_id``, if given) whose owner no longer runs (or any
    owner, with ``include_live``): an owner's pid means nothing on another host sharing the engine."""
    if RUN_LABEL not in labels or labels.get(HOST_LABEL, here) != here:
        return False
    if run_id is not None and labels[RUN_LABEL] != run_id:
        return False
    return include_live or not owner_running(labels.get(OWNER_LABEL, ""))


class Removals:
    """Removes leftovers one by one, keeping what went and every failure (raised together by
    :meth:`raise_failures` once every removal was tried).

    Gone already (404) or being removed by another sweeper (``already_gone``) is not a failure, and
    is listed too (``<what>: gone already ...``): every leftover found is one line. Still in use
    (a container of it being removed) is retried for ``in_use_wait`` seconds.
    With ``dry_run`` nothing is touched and everything counts as removed.
    """

    def __init__(
        self,
        *,
        already_gone: Callable[[BaseException], bool] = already_going,
        in_use_wait: float = 0.0,
        dry_run: bool = False,
    ) -> None:
        self.already_gone = already_gone
        self.in_use_wait = in_use_wait
        self.dry_run = dry_run
        self.removed: list[str] = []
        self.errors: list[Exception] = []

    def remove(self, what: str, fn: Callable[[], object]) -> None:
        from docker.errors import NotFound

        if self.dry_run:
            self.removed.append(what)
            return
        deadline = time.monotonic() + self.in_use_wait
        while True:
            try:
                fn()
                self.removed.append(what)
            except NotFound:
                self.removed.append(f"{what}: {ALREADY_GONE}")
            except Exception as exc:
                if self.already_gone(exc):  # another sweep is removing it: gone
                    self.removed.append(f"{what}: {ALREADY_GONE}")
                elif still_in_use(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                else:
                    exc.add_note(f"while removing {what}")
                    self.errors.append(exc)
            return

    def raise_failures(self, kind: str) -> None:
        if self.errors:
            raise ExceptionGroup(f"removing {len(self.errors)} {kind} leftover(s) failed", self.errors)


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
    here = socket.gethostname()
    removals = Removals(in_use_wait=IN_USE_WAIT, dry_run=dry_run)
    with sweep_client(client) as engine:
        if engine is None:
            return []

        def doomed(labels: dict[str, str] | None) -> bool:
            return left_by_dead_run(labels or {}, here=here, run_id=run_id, include_live=include_live)

        _remove_labelled(engine, doomed, removals)
    removals.raise_failures("docker")
    return removals.removed


def _remove_labelled(
    client: DockerClient, doomed: Callable[[dict[str, str] | None], bool], removals: Removals
) -> None:
    """Containers first (they hold networks and volumes), then networks, then volumes."""
    for c in client.containers.list(all=True, filters={"label": RUN_LABEL}, ignore_removed=True):
        if doomed(c.labels):
            removals.remove(
                f"container {c.name} (run {c.labels[RUN_LABEL]})",
                functools.partial(c.remove, force=True, v=True),
            )
    for n in client.networks.list(filters={"label": RUN_LABEL}):
        labels = n.attrs.get("Labels") or {}
        if doomed(labels):
            removals.remove(f"network {n.name} (run {labels[RUN_LABEL]})", n.remove)
    for v in client.volumes.list(filters={"label": RUN_LABEL}):
        labels = v.attrs.get("Labels") or {}
        if doomed(labels):
            removals.remove(
                f"volume {v.name} (run {labels[RUN_LABEL]})", functools.partial(v.remove, force=True)
            )
