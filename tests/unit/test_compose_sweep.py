"""A sweep that meets another sweeper's removal in progress does not report it as a failure."""

from __future__ import annotations

import requests
from docker.errors import APIError, NotFound

from harness.compose.sweep import removal_in_progress


def _error(status: int, explanation: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError("engine said no", response=response, explanation=explanation)


def test_a_removal_already_in_progress_is_not_a_failure() -> None:
    assert removal_in_progress(_error(409, "removal of container abc is already in progress"))


def test_other_engine_errors_still_are() -> None:
    assert not removal_in_progress(_error(409, "container is running: stop it first"))
    assert not removal_in_progress(_error(500, "removal of container abc is already in progress"))
    assert not removal_in_progress(NotFound("gone"))
    assert not removal_in_progress(RuntimeError("already in progress"))


class _Container:
    def __init__(self, labels: dict[str, str], fail: Exception | None) -> None:
        self.name, self.labels, self.fail, self.removed = "c1", labels, fail, False
        self.attrs = {"Image": "sha256:c1"}

    def remove(self, **_: object) -> None:
        if self.fail is not None:
            raise self.fail
        self.removed = True


class _Collection:
    def __init__(self, items: list[object]) -> None:
        self.items = items

    def list(self, **_: object) -> list[object]:
        return self.items


class _ImageApi:
    def images(self, **_: object) -> list[dict[str, object]]:
        return []


class _Client:
    def __init__(self, container: _Container) -> None:
        self.containers = _Collection([container])
        self.networks = _Collection([])
        self.volumes = _Collection([])
        self.api = _ImageApi()  # no untagged run builds


def test_the_sweep_leaves_a_removal_in_progress_to_the_other_sweeper() -> None:
    import socket

    from harness.compose.sweep import PROJECT_LABEL, sweep_engine
    from harness.docker.engine import HOST_LABEL, OWNER_LABEL, RUN_LABEL

    labels = {
        RUN_LABEL: "r1",
        OWNER_LABEL: "999999999:1",  # no such process: a dead run
        HOST_LABEL: socket.gethostname(),
        PROJECT_LABEL: "aftershock-r1",
    }
    busy = _Container(labels, _error(409, "removal of container c1 is already in progress"))
    from harness.docker.sweep import ALREADY_GONE

    # not a failure, and still one line: the other sweeper's removal is this cleanup's leftover too
    gone = f"container c1 (compose project aftershock-r1): {ALREADY_GONE}"
    assert sweep_engine(client=_Client(busy)) == [gone]  # type: ignore[arg-type]
    broken = _Container(labels, _error(500, "disk on fire"))
    try:
        sweep_engine(client=_Client(broken))  # type: ignore[arg-type]
    except ExceptionGroup as group:
        assert "disk on fire" in str(group.exceptions[0])
    else:
        raise AssertionError("a real failure must be reported")
