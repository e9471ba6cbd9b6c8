"""A running container's cgroup limits, read and changed through the engine and the host's cgroupfs.

What the ``oom`` and ``cpu_starve`` faults need, for both container backends (Docker, Compose):
the container's limits as the engine records them (``HostConfig``), ``docker update`` of memory
and CPU on a running container, and the container's memory cgroup on this host (found from its
init process: ``/proc/<pid>/cgroup``; cgroup v1 and v2). Two things Docker cannot do, and what is
done instead: a memory limit cannot be removed from a container (the floor is 6 MiB, -1 is
refused), so "unlimited" is restored as the engine's whole memory; ``NanoCpus: 0`` is ignored, so
"unlimited" CPU is restored as all of the engine's CPUs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from harness.docker.engine import post_json
from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from docker import DockerClient

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000  # microseconds: Docker's default CFS period


@dataclass(frozen=True)
class ContainerLimits:
    """A container's limits as the engine records them (0 = unset)."""

    memory: int
    memory_swap: int
    nano_cpus: int
    cpu_quota: int
    cpu_period: int


def inspect(client: DockerClient, cid: str) -> dict[str, Any]:
    from docker.errors import DockerException

    try:
        return dict(client.api.inspect_container(cid))
    except DockerException as exc:
        raise InfrastructureError(f"could not inspect container {cid[:12]}: {exc}") from None


def limits_of(info: dict[str, Any]) -> ContainerLimits:
    hc = info.get("HostConfig") or {}
    return ContainerLimits(
        memory=int(hc.get("Memory") or 0),
        memory_swap=int(hc.get("MemorySwap") or 0),
        nano_cpus=int(hc.get("NanoCpus") or 0),
        cpu_quota=int(hc.get("CpuQuota") or 0),
        cpu_period=int(hc.get("CpuPeriod") or 0),
    )


def update(client: DockerClient, cid: str, **fields: int) -> None:
    """``POST /containers/<id>/update`` with ``fields`` as the engine names them (``Memory``,
    ``MemorySwap``, ``NanoCpus``, ``CpuQuota``...); the SDK's ``update`` has no ``NanoCpus``.

    A container whose process just died (an OOM kill) is refused with "cannot update a stopped
    container" while the engine still calls it running; once the engine has it as exited, the
    update takes (it changes the container's configuration for its next start). So that refusal
    is retried until the engine's state settles, for at most :data:`SETTLE_STOPPED` s."""
    from docker.errors import DockerException

    deadline = time.monotonic() + SETTLE_STOPPED
    while True:
        try:
            post_json(client, f"/containers/{cid}/update", dict(fields))
            return
        except DockerException as exc:
            if STOPPED_REFUSAL in str(exc) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise InfrastructureError(
                f"could not update the limits of container {cid[:12]} ({fields}): {exc}"
            ) from None


#: containerd's words for an update that reached a container whose task has just gone.
STOPPED_REFUSAL = "cannot update a stopped container"
#: How long an update waits for the engine to settle a container that just died.
SETTLE_STOPPED = 10.0


def engine_memory(client: DockerClient) -> int:
    return int(client.info()["MemTotal"])


def engine_cpus(client: DockerClient) -> int:
    return int(client.info()["NCPU"])


def memory_cgroup(pid: int) -> Path:
    """The memory cgroup directory of process ``pid`` on this host (v1 ``memory`` line, else v2)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError as exc:
        raise InfrastructureError(
            f"cannot read /proc/{pid}/cgroup ({exc}): the oom fault needs the harness on the Docker host"
        ) from None
    unified: str | None = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return _existing(CGROUP_ROOT / "memory" / path.lstrip("/"))
        if controllers == "":
            unified = path
    if unified is None:
        raise InfrastructureError(f"process {pid} is in no memory cgroup (/proc/{pid}/cgroup)")
    return _existing(CGROUP_ROOT / unified.lstrip("/"))


def _existing(path: Path) -> Path:
    if not path.is_dir():
        raise InfrastructureError(
            f"the container's memory cgroup {path} is not visible here: the oom fault needs the harness on"
            " the Docker host, as root"
        )
    return path


def memory_usage(cgroup: Path) -> int:
    """Bytes charged to the cgroup now (v1 ``memory.usage_in_bytes``, v2 ``memory.current``)."""
    for name in ("memory.usage_in_bytes", "memory.current"):
        file = cgroup / name
        if file.is_file():
            return int(file.read_text().strip())
    raise InfrastructureError(f"{cgroup} has no memory usage file")


@overload
def oom_kill_count(cgroup: Path) -> int: ...
@overload
def oom_kill_count(cgroup: Path, gone_ok: bool) -> int | None: ...
def oom_kill_count(cgroup: Path, gone_ok: bool = False) -> int | None:
    """The cgroup's ``oom_kill`` count (v1 ``memory.oom_control``, v2 ``memory.events``); with
    ``gone_ok``, None once the cgroup is gone (its container ended and the engine removed it)."""
    if gone_ok and not cgroup.is_dir():
        return None
    for name in ("memory.oom_control", "memory.events"):
        file = cgroup / name
        if file.is_file():
            for line in file.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    raise InfrastructureError(f"{cgroup} counts no oom_kill (a memory cgroup on a kernel >= 4.13 is needed)")


def processes(cgroup: Path) -> set[int]:
    """The live processes (thread-group ids: ``cgroup.procs``) in the cgroup now; zombies left out."""
    try:
        pids = {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
    except OSError:
        return set()  # the container is gone and its cgroup with it
    return {pid for pid in pids if _state(pid) not in (None, "Z", "X")}


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]  # after the command, which may hold spaces and ")"


def oom_score_adjs(pids: set[int]) -> dict[int, int]:
    """Each live process's ``oom_score_adj``."""
    found = {}
    for pid in pids:
        try:
            found[pid] = int(Path(f"/proc/{pid}/oom_score_adj").read_text())
        except (OSError, ValueError):
            continue
    return found


def set_oom_score_adjs(values: dict[int, int]) -> None:
    """Put ``oom_score_adj`` back on the processes still there (the gone ones are skipped)."""
    for pid, value in values.items():
        try:
            Path(f"/proc/{pid}/oom_score_adj").write_text(str(value))
        except OSError:
            continue
