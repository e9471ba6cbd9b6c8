"""A crash's signal to the processes of a container: its main process, its children, or all.

Which processes: ``docker top`` lists them with their *host* pids and parents. PID 1 of the
container is Docker's init (``init: true``, as the Docker backend creates every service) or the
service's own command (a Compose file without ``init``). The **main** process is the command:
init's child when there is an init, else PID 1. **children** are every other process of the
container except init; **group** is main plus children.

Why host pids and not ``docker exec <c> kill``: it works for every image (a distroless or
scratch image has no ``kill`` and no shell), it adds no process to the container at the moment of
the crash, and one engine call returns pids and parents together. It needs what the rest of the
harness already assumes: the engine runs on this machine (containers of the run only) and the
harness may signal its processes (root, or the engine's user). Every pid is checked to be the
container's (its cgroup path names the container) before anything is sent: a remote engine's pids
would be strangers' here.

What the kernel does next is not ours to soften: when a container's PID 1 exits, every other
process in its PID namespace is killed. So on Docker and Compose ``scope: main`` with a signal the
main process dies of takes its children down with it (with an init, init exits when its child
does), unlike on the process backend, where the children are orphaned and live on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import InfrastructureError
from harness.scenario.models import CrashScope, CrashSignal
from harness.targets.process_signals import send, signal_number, wait_gone

if TYPE_CHECKING:
    from docker.models.containers import Container


@dataclass(frozen=True)
class ContainerProcesses:
    """Host pids of a running container's processes: its init (if any), main and the rest."""

    init: int | None
    main: int
    children: tuple[int, ...]

    def scope(self, scope: CrashScope) -> list[int]:
        if scope == "main":
            return [self.main]
        if scope == "children":
            return list(self.children)
        return [self.main, *self.children]


def container_processes(service: str, container: Container) -> ContainerProcesses:
    """The processes of ``container`` now (it must be running)."""
    from docker.errors import DockerException

    try:
        container.reload()
        pid1 = int(container.attrs["State"]["Pid"])
        has_init = bool((container.attrs.get("HostConfig") or {}).get("Init"))
        top = container.top(ps_args="-o pid,ppid")
    except DockerException as exc:
        raise InfrastructureError(f"service {service!r}: could not list its processes: {exc}") from None
    if not pid1:
        raise InfrastructureError(f"service {service!r} is not running (container {container.name})")
    titles = [t.upper() for t in top.get("Titles") or []]
    rows = [(int(r[titles.index("PID")]), int(r[titles.index("PPID")])) for r in top.get("Processes") or []]
    main = pid1
    if has_init:
        first = [pid for pid, parent in rows if parent == pid1]
        if not first:
            raise InfrastructureError(f"service {service!r}: its init (pid {pid1}) runs no command")
        main = first[0]
    rest = tuple(pid for pid, _ in rows if pid not in (pid1, main))
    strangers = [pid for pid in (main, *rest) if not _in_container(pid, str(container.id))]
    if strangers:
        # never signal a pid that is not the container's: an engine on another machine reports
        # its own pids, which may be anyone's here
        raise InfrastructureError(
            f"service {service!r}: pid(s) {strangers} from `docker top` are not processes of container"
            f" {container.name} on this machine (is the engine remote?); a crash with a signal or a"
            " scope needs the engine on this machine"
        )
    return ContainerProcesses(pid1 if has_init else None, main, rest)


def _in_container(pid: int, container_id: str) -> bool:
    """Whether host process ``pid`` runs in the container (its cgroup path names the container)."""
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False  # gone already, or not on this machine


def signal_container(service: str, container: Container, signal: CrashSignal, scope: CrashScope) -> list[int]:
    """Send ``signal`` to ``scope`` of the container's processes by host pid; for KILL, wait until
    they are gone. The pids that were signalled."""
    victims = container_processes(service, container).scope(scope)
    hit = send(victims, signal_number(signal))
    if signal == "KILL":
        wait_gone(hit, f"service {service!r} (container {container.name})")
    return hit
