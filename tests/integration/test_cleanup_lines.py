"""``aftershock cleanup`` prints one line per leftover it found, also for one another sweep removed
first. A newcomer's dry run listed 9 resources; the real run printed 5 lines, yet all 9 were gone
(another run's start swept the rest at the same moment, and what it took was silently skipped)."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from harness.docker.sweep import ALREADY_GONE, Removals
from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker


@pytest.fixture
def engine() -> Iterator[DockerClient]:
    from harness.docker.engine import docker_client

    try:
        client = docker_client()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers:\n{exc}")
        pytest.skip(f"no Docker engine: {str(exc).splitlines()[0]}")
    yield client
    client.close()


def test_a_leftover_another_sweep_removed_first_is_still_one_line(engine: DockerClient) -> None:
    from harness.docker import toxiproxy_image
    from harness.docker.engine import RUN_LABEL, run_labels
    from harness.docker.sweep import sweep_docker
    from harness.reaper import owner_token
    from harness.toxiproxy.provision import find_toxiproxy

    image = toxiproxy_image.toxiproxy_image(engine, find_toxiproxy(), {})  # tiny, built once (scratch)
    # Owned by this live process: a run's start sweeps dead runs' leftovers engine-wide, and one of
    # another test took the network first (assert 2 == 3). This sweep is told to take live ones.
    run_id = f"lines{secrets.token_hex(3)}"
    labels = run_labels(run_id, owner_token(os.getpid()))
    mine = {"label": f"{RUN_LABEL}={run_id}"}
    try:
        network = engine.networks.create(f"aftershock-{run_id}", labels=labels)
        engine.containers.create(image, name=f"aftershock-{run_id}-0", labels=labels, network=network.name)
        engine.volumes.create(f"aftershock-{run_id}-data", labels=labels)
        # What this sweep found (as sweep_docker lists them) ...
        found = [
            *(
                ("container", c.name, functools.partial(c.remove, force=True))
                for c in engine.containers.list(all=True, filters=mine)
            ),
            *(("network", n.name, n.remove) for n in engine.networks.list(filters=mine)),
            *(
                ("volume", v.name, functools.partial(v.remove, force=True))
                for v in engine.volumes.list(filters=mine)
            ),
        ]
        assert len(found) == 3
        # ... another sweep removes first (the engine answers 404 to this one) ...
        sweep_docker(run_id=run_id, include_live=True, client=engine)
        removals = Removals()
        for kind, name, remove in found:
            removals.remove(f"{kind} {name} (run {run_id})", remove)
        # ... and each is still one line, saying what happened.
        assert removals.errors == []
        assert removals.removed == [
            f"container aftershock-{run_id}-0 (run {run_id}): {ALREADY_GONE}",
            f"network aftershock-{run_id} (run {run_id}): {ALREADY_GONE}",
            f"volume aftershock-{run_id}-data (run {run_id}): {ALREADY_GONE}",
        ]
    finally:
        from harness.docker.sweep import sweep_docker

        sweep_docker(run_id=run_id, include_live=True, client=engine)
