"""OOM kills the run did not cause: a service that outgrew its memory limit on its own.

An ``oom`` fault journals the kill it brings about. A container the kernel killed because the
service allocated beyond its ``limits.memory`` is found at teardown, before containers are
removed: Docker's ``State.OOMKilled`` (reset when a container starts again) says the last exit
was an OOM kill; a container found dead that way is journaled as ``service_oom_killed`` with
``seen_by: teardown``. Docker keeps the flag when a container is started again, so a running
container (restarted after an ``oom`` fault, which journaled its own kill) is not reported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.docker import cgroups
from harness.docker.engine import Emit
from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from docker import DockerClient


def report_oom_kills(client: DockerClient, containers: Mapping[str, str | None], emit: Emit) -> list[str]:
    """Journal each service whose container (id per service) ended by an OOM kill; their names."""
    found = []
    for service, cid in containers.items():
        if cid is None:
            continue
        try:
            info = cgroups.inspect(client, cid)
        except InfrastructureError:
            continue  # gone already: whatever ended it, teardown has nothing to read
        state = info.get("State") or {}
        if state.get("OOMKilled") and state.get("Status") in ("exited", "dead"):
            found.append(service)
            emit(
                "service_oom_killed",
                service=service,
                oom_killed=True,
                exit_code=state.get("ExitCode"),
                status=str(state.get("Status")),
                memory_limit=cgroups.limits_of(info).memory or None,
                seen_by="teardown",
            )
    return found
