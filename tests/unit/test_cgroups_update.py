"""A limits update that meets a container whose process just died waits for the engine to settle.

Seen in a full suite run: the `oom` fault's restore met "cannot update a stopped container" from
containerd while the engine still had the OOM-killed container as running, and the rehearsal
ended as a harness failure. The engine here is a stand-in for its HTTP answers (pure retry logic).
"""

from __future__ import annotations

from typing import Any

import pytest
from docker.errors import APIError

from harness.docker import cgroups
from harness.errors import InfrastructureError


class _Api:
    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.posts: list[dict[str, int]] = []

    def _url(self, template: str, cid: str) -> str:
        return template.format(cid)

    def _post_json(self, url: str, data: dict[str, int]) -> object:
        self.posts.append(data)
        return object()

    def _raise_for_status(self, response: object) -> None:
        if self.refusals:
            self.refusals -= 1
            raise APIError(
                "500 Server Error: Cannot update container c1: cannot update a stopped container: unknown"
            )


class _Client:
    def __init__(self, refusals: int) -> None:
        self.api = _Api(refusals)


def test_a_stopped_container_refusal_is_retried_until_the_engine_settles() -> None:
    client: Any = _Client(refusals=3)
    cgroups.update(client, "c1", Memory=64 << 20)
    assert len(client.api.posts) == 4


def test_a_refusal_that_never_settles_is_a_harness_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "SETTLE_STOPPED", 0.2)
    client: Any = _Client(refusals=10**6)
    with pytest.raises(InfrastructureError, match="cannot update a stopped container"):
        cgroups.update(client, "c1", Memory=64 << 20)


def test_other_refusals_are_not_retried() -> None:
    class _Refusing(_Api):
        def _raise_for_status(self, response: object) -> None:
            raise APIError("400 Client Error: Minimum memory limit allowed is 6MB")

    client: Any = _Client(0)
    client.api = _Refusing(0)
    with pytest.raises(InfrastructureError, match="Minimum memory"):
        cgroups.update(client, "c1", Memory=1)
    assert len(client.api.posts) == 1
