"""Faults on a container's cgroup limits: a real kernel OOM kill (``oom``) and CPU starvation
(``cpu_starve``). Docker and Compose backends only (validation refuses them elsewhere).

**oom.** ``docker update --memory`` cannot take a limit under what the container uses on cgroup v1
(the kernel refuses: "unable to set memory limit ... current usage"), and a service that does not
grow would never meet a merely lowered limit. So, at ``at``: the container's memory limit is set
to its current usage plus :data:`HEADROOM` (no swap beyond it), and a balloon process
(:mod:`harness.faults.balloon`) joins the container's memory cgroup, the service's processes
raised above it for the OOM killer, and touches memory until the cgroup counts an ``oom_kill``.
The kernel chose and killed the victim - the largest process of the service - as in production.
The kernel may also kill the balloon: after the service (its memory not yet freed, the balloon
outranks what is left, e.g. the container's init), which is the service's kill all the same; or
instead of it (a service smaller than the balloon's own interpreter), which is seen (one kill
counted, no service process gone) and tried again, up to :data:`ATTEMPTS` balloons, then
reported as a harness failure naming what the kernel chose (:func:`pressure_outcome`).
The fault then reads the container's state and journals ``service_oom_killed`` (Docker's
``OOMKilled`` flag and the exit code, 137 = 128 + SIGKILL, when the container ended). On clear
the limit is restored (see :mod:`harness.docker.cgroups` for "unlimited") and, with ``restart``,
a dead container is started again (``cleared_at``, without waiting for health, as for a crash).
No kill within ``within`` seconds is a harness failure, never a silent pass.

**cpu_starve.** The CFS quota is cut to ``cpus`` (``NanoCpus``, or ``CpuQuota`` if the container's
limit was given that way) for ``duration``, then restored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from harness.docker import cgroups
from harness.errors import InfrastructureError
from harness.faults.balloon import KILLED
from harness.scenario.limits import MIN_MEMORY
from harness.scenario.models import CpuStarveFault, OomFault

if TYPE_CHECKING:
    from docker import DockerClient

    from harness.targets.backend import Backend

HEADROOM = 4 * 2**20  # bytes above current usage: the balloon fills it, the next page is the OOM
BALLOON = Path(__file__).with_name("balloon.py")
#: How long a killed container may take to be reported exited (the engine is slow on a busy host).
SETTLE = 5.0
#: Balloons tried when the kernel kills the balloon rather than a service process.
ATTEMPTS = 3

Outcome = Literal["service", "balloon", "none", "failed"]


def pressure_outcome(returncode: int, kills: int | None, service_died: bool) -> Outcome:
    """What one balloon's run brought about, from its exit status, the kills the cgroup counted
    meanwhile (None: the cgroup is gone, the container has ended) and whether a process of the
    service died.

    ``service``: a service process was OOM-killed (the balloon saw the count rise and exited 0;
    or it was SIGKILLed too, after the service: two kills counted, or one and a service process
    died; or the service outgrew the lowered limit before the balloon began). ``balloon``: the
    one kill counted was the balloon's and the service lives on: the kernel's choice, tried
    again. ``none``: no kill in time. ``failed``: anything else (the balloon crashed, or was
    killed by something other than the cgroup's OOM killer).
    """
    if returncode == 0:  # the balloon saw the count rise, and lived: the victim was the service's
        return "service"
    killed = returncode in (-signal.SIGKILL, KILLED)  # the balloon, or its dd, by SIGKILL
    if kills is None:  # the container ended and its cgroup went with it: so did its processes
        return "service" if killed and service_died else "failed"
    if returncode == 3:  # no kill after the balloon started; one before it, by the limit alone?
        return "none" if kills == 0 else "service" if service_died else "failed"
    if killed and kills >= 2:
        return "service"
    if killed and kills == 1:
        return "service" if service_died else "balloon"
    return "failed"


def _service_died(cgroup: Path, service: set[int]) -> bool:
    """Whether a process of the service is gone, allowing :data:`SETTLE` s for a victim to exit."""
    deadline = time.monotonic() + SETTLE
    while service <= cgroups.processes(cgroup):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class ContainerBackend(Protocol):
    """What these faults need of a backend: the engine, the service's container, a restart."""

    name: str

    @property
    def client(self) -> DockerClient: ...

    def emit(self, kind: str, /, **fields: Any) -> Any: ...

    def container_id(self, service: str) -> str | None: ...

    def restart(self, service: str, wait: bool = True) -> None: ...


def container_backend(backend: Backend) -> ContainerBackend:
    if not all(hasattr(backend, a) for a in ("client", "container_id", "emit")):
        raise InfrastructureError(
            f"the {backend.name} backend runs no containers: oom and cpu_starve need docker or compose"
        )
    return cast(ContainerBackend, backend)


def resource_fault(fault: OomFault | CpuStarveFault, backend: Backend) -> AbstractContextManager[Any]:
    """The injector of a scenario's ``oom`` or ``cpu_starve`` (``at`` and ``duration`` are the timeline's)."""
    containers = container_backend(backend)
    if isinstance(fault, OomFault):
        return ContainerOom(fault.service, containers, restart=fault.restart, within=fault.within)
    return CpuStarve(fault.service, containers, fault.cpus)


def _container(backend: ContainerBackend, service: str) -> str:
    cid = backend.container_id(service)
    if cid is None:
        raise InfrastructureError(f"service {service!r} has no container")
    return cid


class ContainerOom(AbstractContextManager["ContainerOom"]):
    """See the module docstring. Without ``restart`` the fault clears itself at the kill
    (``cleared_at`` = ``injected_at``): the limit is restored and bringing the service back is the
    target's business."""

    def __init__(
        self, service: str, backend: ContainerBackend, *, restart: bool = True, within: float = 10.0
    ) -> None:
        self.service = service
        self.backend = backend
        self.restart = restart
        self.within = within
        self.clears_itself = not restart
        self.original: cgroups.ContainerLimits | None = None
        self.seen: dict[str, Any] = {}

    def __enter__(self) -> ContainerOom:
        client = self.backend.client
        cid = _container(self.backend, self.service)
        info = cgroups.inspect(client, cid)
        pid = int((info.get("State") or {}).get("Pid") or 0)
        if not pid:
            raise InfrastructureError(f"oom: service {self.service!r} is not running (nothing to kill)")
        cgroup = cgroups.memory_cgroup(pid)
        self.original = cgroups.limits_of(info)
        try:
            # Before the limit falls: a service that grows past it alone is killed before any balloon.
            service, before = cgroups.processes(cgroup), cgroups.oom_kill_count(cgroup)
            limit = max(MIN_MEMORY, _page_up(cgroups.memory_usage(cgroup) + HEADROOM))
            cgroups.update(client, cid, Memory=limit, MemorySwap=limit)
            self.backend.emit("service_limits_changed", service=self.service, memory=limit, why="oom")
            killed = self._pressure(cgroup, service, before)
            self.seen = self._settled(cid)
            self.backend.emit(
                "service_oom_killed",
                service=self.service,
                oom_killed=bool(self.seen.get("OOMKilled")),
                exit_code=self.seen.get("ExitCode") if self.seen.get("Status") != "running" else None,
                status=str(self.seen.get("Status")),
                memory_limit=limit,
                seen_by="fault",
            )
            if not killed:
                raise InfrastructureError(
                    f"oom: the kernel killed nothing in service {self.service!r} within {self.within:g}s"
                    f" of memory pressure at a limit of {limit} bytes"
                )
        except BaseException:
            self._restore()
            raise
        return self

    def _pressure(self, cgroup: Path, service: set[int], before: int) -> bool:
        """Bring about an OOM kill of a service process (``service``: the pids before the limit was
        lowered, ``before``: the cgroup's kill count then); True once one was, False if the cgroup
        counted no kill within ``within`` seconds. A balloon the kernel chose instead is tried
        again (up to :data:`ATTEMPTS` balloons in all)."""
        deadline = time.monotonic() + self.within
        chosen = []
        for _ in range(ATTEMPTS):
            if cgroups.oom_kill_count(cgroup, gone_ok=True) != before and _service_died(cgroup, service):
                return True  # the lowered limit alone did it: no balloon needed
            alive = service & cgroups.processes(cgroup)
            outcome, detail = self._one_balloon(cgroup, max(1.0, deadline - time.monotonic()), before)
            if outcome == "service":
                return True
            if outcome == "none":
                return False
            if outcome == "failed":
                raise InfrastructureError(f"oom: the memory balloon failed ({detail})")
            chosen.append(detail)
            service, before = alive, cgroups.oom_kill_count(cgroup)  # the service lives: so does its cgroup
        raise InfrastructureError(
            f"oom: the kernel OOM-killed the memory balloon instead of a process of service"
            f" {self.service!r} {ATTEMPTS} times; no service process died ({'; '.join(chosen)})"
        )

    def _one_balloon(self, cgroup: Path, seconds: float, before: int) -> tuple[Outcome, str]:
        """One balloon's run and what came of it (see :func:`pressure_outcome`), with a detail;
        ``before``: the kill count the outcome is measured from."""
        service = cgroups.processes(cgroup)
        adjs = cgroups.oom_score_adjs(service)  # put back here too: a killed balloon cannot
        argv = [sys.executable, "-I", str(BALLOON), str(cgroup), f"{seconds:g}"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 10)
        except subprocess.TimeoutExpired:
            return "none", "timed out"  # run() killed it
        finally:
            cgroups.set_oom_score_adjs(adjs)
        count = cgroups.oom_kill_count(cgroup, gone_ok=True)
        kills = None if count is None else count - before
        died = done.returncode != 0 and kills != 0 and _service_died(cgroup, service)
        detail = (
            f"exit {done.returncode}, {kills} OOM kill(s) counted, service processes {sorted(service)}"
            f" {'one died' if died else 'all alive'}: {(done.stdout + done.stderr).strip()[-400:]}"
        )
        return pressure_outcome(done.returncode, kills, died), detail

    def _settled(self, cid: str) -> dict[str, Any]:
        """The container's state once the kill has landed: exited, or still running after
        :data:`SETTLE` s (a child process was the victim and the service lives on)."""
        deadline = time.monotonic() + SETTLE
        while True:
            state = dict(cgroups.inspect(self.backend.client, cid).get("State") or {})
            if state.get("Status") != "running" or time.monotonic() > deadline:
                return state
            time.sleep(0.02)

    def _restore(self) -> None:
        if self.original is None:
            return
        original, self.original = self.original, None
        client = self.backend.client
        memory = original.memory or cgroups.engine_memory(client)
        swap = original.memory_swap if original.memory else -1
        cgroups.update(client, _container(self.backend, self.service), Memory=memory, MemorySwap=swap)
        self.backend.emit("service_limits_changed", service=self.service, memory=memory, why="restored")

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore()
        if not self.restart:
            return
        status = (
            cgroups.inspect(self.backend.client, _container(self.backend, self.service)).get("State") or {}
        ).get("Status")
        if status in ("exited", "dead"):
            # Relaunch without waiting for health: coming back is part of the recovery measured.
            self.backend.restart(self.service, wait=False)


def _page_up(size: int) -> int:
    return -(-size // 4096) * 4096


class CpuStarve(AbstractContextManager["CpuStarve"]):
    """The container's CPU quota cut to ``cpus`` on enter, restored on exit (see the module docstring)."""

    clears_itself = False

    def __init__(self, service: str, backend: ContainerBackend, cpus: float) -> None:
        self.service = service
        self.backend = backend
        self.cpus = cpus
        self.original: cgroups.ContainerLimits | None = None

    def __enter__(self) -> CpuStarve:
        cid = _container(self.backend, self.service)
        original = cgroups.limits_of(cgroups.inspect(self.backend.client, cid))
        if original.cpu_quota > 0:  # given as a quota: keep to it (the engine refuses mixing the two)
            fields = {"CpuQuota": max(1000, round(self.cpus * (original.cpu_period or cgroups.CPU_PERIOD)))}
        else:
            fields = {"NanoCpus": round(self.cpus * 1e9)}
        self.original = original
        try:
            cgroups.update(self.backend.client, cid, **fields)
            self.backend.emit(
                "service_limits_changed", service=self.service, cpus=self.cpus, why="cpu_starve"
            )
        except BaseException:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        if self.original is None:
            return
        original, self.original = self.original, None
        client = self.backend.client
        cid = _container(self.backend, self.service)
        if original.cpu_quota > 0:
            cgroups.update(client, cid, CpuQuota=original.cpu_quota)
            cpus = original.cpu_quota / (original.cpu_period or cgroups.CPU_PERIOD)
        else:
            nano = original.nano_cpus or cgroups.engine_cpus(client) * 10**9
            cgroups.update(client, cid, NanoCpus=nano)
            cpus = nano / 1e9
        self.backend.emit("service_limits_changed", service=self.service, cpus=cpus, why="restored")

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore()
