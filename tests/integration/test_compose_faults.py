"""Crash scopes and a partition of the containers' own network paths on the Compose backend.

``tests/fixtures/targets/netcut/compose.yaml``: front reaches back through the declared link and
peer directly by name; the pool runs as its container's PID 1 (no init). One project for the
module, built locally (``AFTERSHOCK_OFFLINE=1``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from harness.docker.engine import RUN_LABEL
from harness.docker.signals import container_processes
from harness.targets.process_signals import alive
from tests.integration.test_compose import engine, project_left

if TYPE_CHECKING:
    from docker import DockerClient

    from harness.compose.backend import ComposeBackend

pytestmark = pytest.mark.docker

NETCUT = Path(__file__).parents[1] / "fixtures" / "targets" / "netcut"
__all__ = ["engine"]  # the engine fixture, shared with test_compose


@pytest.fixture(scope="module")
def backend(engine: DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeBackend]:
    from harness.scenario.loader import load_target
    from harness.session import TargetSession

    run_id = f"netcut-{os.getpid()}-{int(time.time())}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AFTERSHOCK_OFFLINE", os.environ.get("AFTERSHOCK_OFFLINE", "1"))
        target = load_target(NETCUT)
        run_dir = tmp_path_factory.mktemp("netcut-compose")
        with TargetSession(target, NETCUT, run_dir, run_id, backend="compose") as session:
            yield session.backend  # type: ignore[misc]
    assert project_left(engine, run_id) == []


def _get(backend: ComposeBackend, path: str) -> int | str:
    try:
        return requests.get(backend.entry_url("front") + path, timeout=5).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def _container(backend: ComposeBackend, service: str) -> Any:
    cid = backend.container_id(service)
    assert cid is not None
    return backend.client.containers.get(cid)


def test_partition_cuts_a_path_no_link_declares(backend: ComposeBackend) -> None:
    assert _get(backend, "/direct") == 200 and _get(backend, "/link") == 200
    with backend.network_partition([["front"], ["peer"]], "p1"):
        assert _get(backend, "/direct") == 502
        assert _get(backend, "/link") == 200  # back is in neither group: its link is untouched
    deadline = time.monotonic() + 10
    while _get(backend, "/direct") != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _get(backend, "/direct") == 200
    assert [
        n.name
        for n in backend.client.networks.list(filters={"label": f"{RUN_LABEL}={backend.run_id}"})
        if "-cut-p1-" in n.name
    ] == []


def test_crash_scopes_on_a_pid_1_service(backend: ComposeBackend) -> None:
    pool = _container(backend, "pool")
    before = container_processes("pool", pool)
    assert before.init is None and len(before.children) == 2  # the pool is PID 1 itself
    backend.kill("pool", "KILL", "children")
    assert container_processes("pool", pool).children == () and alive(before.main)

    backend.restart("pool")
    started = container_processes("pool", pool)
    since = len(backend.log_path("pool").read_text())  # the restart's stop was a TERM too
    backend.kill("pool", "TERM", "main")  # PID 1 with a handler: it hears TERM and exits
    deadline = time.monotonic() + 10
    while backend.state("pool").get("Status") != "exited" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.state("pool").get("Status") == "exited"
    assert not any(alive(p) for p in [started.main, *started.children])  # PID 1 gone: all gone
    deadline = time.monotonic() + 10
    said: list[tuple[str, str]] = []
    while not said and time.monotonic() < deadline:
        log = backend.log_path("pool").read_text()[since:]
        said = re.findall(r"^(main|worker) \d+ got (\w+)", log, re.M)
        time.sleep(0.05)
    assert said == [("main", "TERM")]  # the workers were killed by the kernel, not told


def _cut_left(client: DockerClient, run_id: str, fault_id: str) -> list[str]:
    """The cut networks of fault ``fault_id`` of this run still on the engine (a run beside this
    one, such as the Docker and Compose partition tests in parallel, has its own)."""
    mine = client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
    return [n.name for n in mine if f"-cut-{fault_id}-" in n.name]
