"""A run's start sweeps the engine with one listing by run label: Compose projects, then the rest."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import pytest
import requests
from docker.errors import APIError

from harness.compose.sweep import PROJECT_LABEL, sweep_engine
from harness.docker.engine import HOST_LABEL, OWNER_LABEL, RUN_LABEL
from harness.reaper import owner_token

DEAD_OWNER = "999999999:1"  # no such process


def labels(run_id: str, owner: str = DEAD_OWNER, project: str | None = None) -> dict[str, str]:
    out = {RUN_LABEL: run_id, OWNER_LABEL: owner, HOST_LABEL: socket.gethostname()}
    return out | ({PROJECT_LABEL: project} if project else {})


class Resource:
    def __init__(self, name: str, labels: dict[str, str], fail: Exception | None = None) -> None:
        self.name, self.labels, self.attrs, self.fail = name, labels, {"Labels": labels}, fail
        self.removed = False

    def remove(self, **_: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.removed = True


class Kind:
    """``client.containers`` (or networks, volumes): counts its listings, filters by label."""

    def __init__(self, kind: str, items: list[Resource], calls: Counter[str]) -> None:
        self.kind, self.items, self.calls = kind, items, calls

    def list(self, filters: dict[str, Any], **_: Any) -> list[Resource]:
        self.calls[f"{self.kind} {filters['label']}"] += 1
        wanted = filters["label"]
        key, _, value = wanted.partition("=")
        return [
            r
            for r in self.items
            if not r.removed and r.labels.get(key) is not None and value in ("", r.labels[key])
        ]


class _Api:
    """``client.api``: the engine's one-call image listing (``GET /images/json``)."""

    def __init__(self, calls: Counter[str]) -> None:
        self.calls = calls

    def images(self, filters: dict[str, Any], **_: Any) -> list[dict[str, Any]]:
        self.calls[f"images {filters['label']}"] += 1
        return []


class Client:
    def __init__(
        self,
        containers: list[Resource],
        networks: tuple[Resource, ...] = (),
        volumes: tuple[Resource, ...] = (),
    ) -> None:
        self.calls: Counter[str] = Counter()
        self.containers = Kind("containers", containers, self.calls)
        self.networks = Kind("networks", list(networks), self.calls)
        self.volumes = Kind("volumes", list(volumes), self.calls)
        self.api = _Api(self.calls)  # the image list is one low-level call: no untagged run builds


def test_nothing_left_over_costs_one_listing_of_each_kind() -> None:
    live = Resource("c-live", labels("r-live", owner=owner_token()))
    client = Client([live], (Resource("n-live", labels("r-live", owner=owner_token())),))
    assert sweep_engine(client=client) == []  # type: ignore[arg-type]
    assert client.calls == Counter(  # and the untagged builds: none, so no listing of all containers
        {
            f"containers {RUN_LABEL}": 1,
            f"networks {RUN_LABEL}": 1,
            f"volumes {RUN_LABEL}": 1,
            "images com.docker.compose.project": 1,
        }
    )
    assert not live.removed  # its owner runs: not a leftover


def test_a_dead_project_goes_whole_and_a_dead_plain_run_by_its_labels() -> None:
    in_project = Resource("web-1", labels("r1", project="aftershock-r1"))
    unlabelled_volume = Resource("aftershock-r1_data", {PROJECT_LABEL: "aftershock-r1"})  # Compose made it
    plain = Resource("aftershock-r2-api", labels("r2"))
    network = Resource("aftershock-r2", labels("r2"))
    client = Client([in_project, plain], (network,), (unlabelled_volume,))
    removed = sweep_engine(client=client)  # type: ignore[arg-type]
    assert removed == [
        "container web-1 (compose project aftershock-r1)",
        "volume aftershock-r1_data (compose project aftershock-r1)",
        "container aftershock-r2-api (run r2)",
        "network aftershock-r2 (run r2)",
    ]
    assert client.calls[f"containers {RUN_LABEL}"] == 1  # the project's container was not removed twice


def test_a_dry_run_lists_every_leftover_by_its_run_and_touches_nothing() -> None:
    in_project = Resource("web-1", labels("r1", project="aftershock-r1"))
    assert sweep_engine(client=Client([in_project]), dry_run=True) == ["container web-1 (run r1)"]  # type: ignore[arg-type]
    assert not in_project.removed


def _error(status: int, explanation: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError("engine said no", response=response, explanation=explanation)


def test_a_removal_in_progress_is_gone_and_every_real_failure_is_raised_together() -> None:
    busy = Resource(
        "web-1",
        labels("r1", project="aftershock-r1"),
        _error(409, "removal of container web-1 is already in progress"),
    )
    broken = Resource("api", labels("r2"), _error(500, "disk on fire"))
    broken_net = Resource("net", labels("r3"), _error(500, "driver failed"))
    with pytest.raises(ExceptionGroup) as info:
        sweep_engine(client=Client([busy, broken], (broken_net,)))  # type: ignore[arg-type]
    assert [e.__notes__ for e in info.value.exceptions] == [
        ["while removing container api (run r2)"],
        ["while removing network net (run r3)"],
    ]
