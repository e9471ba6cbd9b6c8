"""Which processes of a container a crash's scope names, and the guard that never signals a
stranger: pids ``docker top`` reports that are not the container's on this machine."""

from __future__ import annotations

import os
from typing import Any

import pytest

from harness.docker.signals import ContainerProcesses, container_processes
from harness.errors import InfrastructureError


class FakeContainer:
    """What :func:`container_processes` reads of a container (a remote engine's view here)."""

    id = "f" * 64
    name = "remote-worker"

    def __init__(self, rows: list[list[str]], pid1: int, init: bool) -> None:
        self.rows = rows
        self.attrs: dict[str, Any] = {"State": {"Pid": pid1}, "HostConfig": {"Init": init}}

    def reload(self) -> None:
        return None

    def top(self, ps_args: str) -> dict[str, Any]:
        assert ps_args == "-o pid,ppid"
        return {"Titles": ["PID", "PPID"], "Processes": self.rows}


def test_scopes_name_main_children_or_both() -> None:
    procs = ContainerProcesses(init=10, main=11, children=(12, 13))
    assert procs.scope("main") == [11]
    assert procs.scope("children") == [12, 13]
    assert procs.scope("group") == [11, 12, 13]


def test_pids_that_are_not_the_containers_are_never_signalled() -> None:
    # a remote engine's pids: here they are this test's own process and its parent
    me, parent = os.getpid(), os.getppid()
    container = FakeContainer([[str(parent), "1"], [str(me), str(parent)]], pid1=parent, init=True)
    with pytest.raises(InfrastructureError, match="not processes of container remote-worker on this machine"):
        container_processes("worker", container)  # type: ignore[arg-type]
