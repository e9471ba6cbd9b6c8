"""The backstop: remove what a SIGKILLed run left on the Docker engine, found by its labels.

Two sweeps may run at once (two runs starting, a run and ``aftershock cleanup``): a resource the
other sweep is already removing answers 409 "removal ... already in progress", and a network
still has the endpoint of a container being removed for a moment. Both count as gone (after a
short wait for the network), never as failures.

One listing of everything run-labelled (:func:`list_labelled`) serves both sweeps at a run's
start: :func:`harness.compose.sweep.sweep_engine` removes whole Compose projects from it, then
the rest through :func:`remove_leftovers`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

Doomed = Callable[[dict[str, str]], bool]


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


def dead_runs(*, run_id: str | None, include_live: bool) -> Doomed:
    """The filter of both sweeps: :func:`left_by_dead_run` on this host."""
    here = socket.gethostname()
    return lambda labels: left_by_dead_run(labels, here=here, run_id=run_id, include_live=include_live)


def labels_of(resource: Any) -> dict[str, str]:
    """A container's, network's or volume's labels (a container has them at hand, the others in attrs)."""
    labels = getattr(resource, "labels", None)
    if labels is None:
        labels = resource.attrs.get("Labels")
    return dict(labels or {})


@dataclass(frozen=True)
class Labelled:
    """Every container, network and volume carrying a run label, listed once."""

    containers: list[Any]
    networks: list[Any]
    volumes: list[Any]

    def without(self, drop: Doomed) -> Labelled:
        """The listing less the resources whose labels ``drop`` picks (already handled)."""
        kept = ([r for r in items if not drop(labels_of(r))] for items in self.kinds())
        return Labelled(*kept)

    def kinds(self) -> tuple[list[Any], list[Any], list[Any]]:
        """Containers, networks, volumes: the order they must be removed in."""
        return (self.containers, self.networks, self.volumes)


def list_labelled(client: DockerClient) -> Labelled:
    """One listing by run label: three engine calls, whatever the sweeps then do with it."""
    return Labelled(
        client.containers.list(all=True, filters={"label": RUN_LABEL}, ignore_removed=True),
        client.networks.list(filters={"label": RUN_LABEL}),
        client.volumes.list(filters={"label": RUN_LABEL}),
    )


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
    removals = Removals(in_use_wait=IN_USE_WAIT, dry_run=dry_run)
    with sweep_client(client) as engine:
        if engine is None:
            return []
        remove_leftovers(list_labelled(engine), dead_runs(run_id=run_id, include_live=include_live), removals)
    removals.raise_failures("docker")
    return removals.removed


def remove_leftovers(listing: Labelled, doomed: Doomed, removals: Removals) -> None:
    """Containers first (they hold networks and volumes), then networks, then volumes."""
    for c in listing.containers:
        labels = labels_of(c)
        if doomed(labels):
            removals.remove(
                f"container {c.name} (run {labels[RUN_LABEL]})",
                functools.partial(c.remove, force=True, v=True),
            )
    for n in listing.networks:
        labels = labels_of(n)
        if doomed(labels):
            removals.remove(f"network {n.name} (run {labels[RUN_LABEL]})", n.remove)
    for v in listing.volumes:
        labels = labels_of(v)
        if doomed(labels):
            removals.remove(
                f"volume {v.name} (run {labels[RUN_LABEL]})", functools.partial(v.remove, force=True)
            )
