"""A limits update that meets a container whose process just died waits for the engine to settle.

Seen in a full suite run: the `oom` fault's restore met "cannot update a stopped container" from
containerd while the engine still had the OOM-killed container as running, and the rehearsal
ended as a harness failure. The engine here is a stand-in for its HTTP answers (pure retry logic).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from docker.errors import APIError

from harness.docker import cgroups
from harness.errors import InfrastructureError

STOPPED = "500 Server Error: Cannot update container c1: cannot update a stopped container: unknown"


class _Engine:
    """The engine's answers to ``POST /containers/<id>/update``: ``refusals`` times "stopped"."""

    def __init__(self, refusals: int, refusal: str = STOPPED) -> None:
        self.refusals = refusals
        self.refusal = refusal
        self.posts: list[dict[str, Any]] = []

    def post_json(self, _client: object, path: str, data: dict[str, Any]) -> None:
        assert path == "/containers/c1/update"
        self.posts.append(data)
        if self.refusals:
            self.refusals -= 1
            raise APIError(self.refusal)


def _engine(monkeypatch: pytest.MonkeyPatch, refusals: int, refusal: str = STOPPED) -> _Engine:
    engine = _Engine(refusals, refusal)
    monkeypatch.setattr(cgroups, "post_json", engine.post_json)
    return engine


def test_a_stopped_container_refusal_is_retried_until_the_engine_settles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine(monkeypatch, refusals=3)
    cgroups.update(cast(Any, None), "c1", Memory=64 << 20)
    assert engine.posts == [{"Memory": 64 << 20}] * 4


def test_a_refusal_that_never_settles_is_a_harness_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "SETTLE_STOPPED", 0.2)
    _engine(monkeypatch, refusals=10**6)
    with pytest.raises(InfrastructureError, match="cannot update a stopped container"):
        cgroups.update(cast(Any, None), "c1", Memory=64 << 20)


def test_other_refusals_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(monkeypatch, refusals=1, refusal="400 Client Error: Minimum memory limit allowed is 6MB")
    with pytest.raises(InfrastructureError, match="Minimum memory"):
        cgroups.update(cast(Any, None), "c1", Memory=1)
    assert len(engine.posts) == 1
