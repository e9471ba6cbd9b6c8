"""Crash scopes and a partition of the containers' own network paths, on a real Docker engine.

One target (``tests/fixtures/targets/netcut``) is started once for the module: a front that
reaches its back through a declared link and directly by name (a path no link declares), and a
worker pool. Images are built locally (``AFTERSHOCK_OFFLINE=1``).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.docker.engine import OWNER_LABEL, RUN_LABEL
from harness.docker.signals import container_processes
from harness.faults.partition import Partition, crossing_links
from harness.reaper import owner_token
from harness.targets.process_signals import alive
from tests.integration.test_docker_backend import Stack, engine, eventually, labelled, running, status

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

NETCUT = Path(__file__).parents[1] / "fixtures" / "targets" / "netcut"
__all__ = ["engine"]  # the engine fixture, shared with test_docker_backend


@pytest.fixture(scope="module")
def stack(engine: DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("netcut")
    with running(NETCUT, run_dir, run_id=f"t{secrets.token_hex(3)}") as s:
        yield s
    assert labelled(engine, f"{OWNER_LABEL}={owner_token()}") == [], "the module left docker resources"


def _log_size(stack: Stack) -> int:
    return len(stack.backend.save_logs("pool").read_text())


def _said(stack: Stack, since: int, pattern: str, count: int, within: float = 10.0) -> list[tuple[str, ...]]:
    """The lines of the pool's log after ``since`` matching ``pattern``, once there are ``count``."""
    deadline = time.monotonic() + within
    while True:
        found = re.findall(pattern, stack.backend.save_logs("pool").read_text()[since:], re.M)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_partition_cuts_the_direct_path_too_and_restores_it(engine: DockerClient, stack: Stack) -> None:
    assert status(stack.url("/direct")) == 200 and status(stack.url("/link")) == 200
    groups = [["front"], ["back"]]
    network = stack.backend.network_partition(groups, "p1")
    with Partition(crossing_links(groups, stack.target), stack.proxies, "p1", network):
        assert status(stack.url("/direct"), timeout=5) == 502  # not through any link: cut anyway
        assert status(stack.url("/link"), timeout=5) == 502  # the declared link: black-holed
        assert status(stack.url("/health")) == 200  # the load still reaches the front
        back = stack.backend.container("back")
        back.reload()
        assert list(back.attrs["NetworkSettings"]["Networks"]) == [f"{stack.backend.network_name}-cut-p1-1"]
    eventually(stack.url("/direct"), 200, within=10)
    assert status(stack.url("/link")) == 200
    back.reload()
    assert back.attrs["NetworkSettings"]["Networks"][stack.backend.network_name]["Aliases"][0] == "back"
    assert [
        n.name
        for n in engine.networks.list(filters={"label": f"{RUN_LABEL}={stack.backend.run_id}"})
        if "-cut-p1-" in n.name
    ] == []

    # an exception inside the fault (an abort, Ctrl-C) restores the paths just the same
    network = stack.backend.network_partition(groups, "p2")
    with (
        pytest.raises(RuntimeError, match="abort"),
        Partition(crossing_links(groups, stack.target), stack.proxies, "p2", network),
    ):
        assert status(stack.url("/direct"), timeout=5) == 502
        raise RuntimeError("abort")
    eventually(stack.url("/direct"), 200, within=10)
    assert [
        n.name
        for n in engine.networks.list(filters={"label": f"{RUN_LABEL}={stack.backend.run_id}"})
        if "-cut-p2-" in n.name
    ] == []


def test_crash_scopes_inside_a_container(stack: Stack) -> None:
    backend = stack.backend
    container = backend.container("pool")
    before = container_processes("pool", container)
    assert before.init is not None and len(before.children) == 2  # docker-init, the pool, 2 workers

    backend.kill("pool", "KILL", "children")
    after = container_processes("pool", container)
    assert after.main == before.main and after.children == ()  # the main lives on, alone
    assert not any(alive(p) for p in before.children)

    backend.restart("pool")
    since = _log_size(stack)  # the restart stopped the main (docker stop: TERM); count from here
    backend.kill("pool", "TERM", "group")  # every process of the service hears it
    said = _said(stack, since, r"^(main|worker) \d+ got (\w+)", 3)
    assert sorted(said) == [("main", "TERM"), ("worker", "TERM"), ("worker", "TERM")]

    backend.restart("pool")
    started = container_processes("pool", container)
    backend.kill("pool", "KILL", "main")
    assert not alive(started.main)
    # the container's init exits with its child, and the kernel takes the workers with it
    deadline = time.monotonic() + 10
    while container.status not in ("exited", "dead") and time.monotonic() < deadline:
        time.sleep(0.05)
        container.reload()
    assert container.status in ("exited", "dead")
    assert not any(alive(p) for p in started.children)


def _cut_left(client: DockerClient, run_id: str, fault_id: str) -> list[str]:
    """The cut networks of fault ``fault_id`` of this run still on the engine (a run beside this
    one, such as the Docker and Compose partition tests in parallel, has its own)."""
    mine = client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
    return [n.name for n in mine if f"-cut-{fault_id}-" in n.name]
