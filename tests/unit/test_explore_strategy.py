"""Every schedule the explore strategy generates is within the bounds and a valid scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore.search import variant
from harness.explore.strategy import schedules
from harness.scenario.loader import load_scenario, load_target
from harness.scenario.models import Explore

REPO = Path(__file__).resolve().parents[2]
ORDERS = load_target(REPO / "targets" / "orders")
BASE = REPO / "scenarios" / "explore-orders.yaml"
LOADED = load_scenario(BASE)
EX = Explore.model_validate(
    {
        "kinds": ["latency", "down", "crash", "pause", "duplicate", "response_loss"],
        "links": ["worker->payments"],
        "services": ["worker"],
        "max_faults": 3,
        "start": ["2s", "8s"],
        "duration": ["1s", "4s"],
        "latency": ["100ms", "2s"],
        "fraction": [0.1, 0.5],
    }
)


@settings(max_examples=200, deadline=None)
@given(schedules(EX, ORDERS))
def test_schedules_respect_every_bound(schedule: list[dict[str, Any]]) -> None:
    assert 1 <= len(schedule) <= EX.max_faults
    assert [f["at"] for f in schedule] == sorted(f["at"] for f in schedule)
    for f in schedule:
        assert f["kind"] in EX.kinds
        assert EX.start[0] <= f["at"] <= EX.start[1]
        assert EX.duration[0] <= f["duration"] <= EX.duration[1]
        if "link" in f:
            assert f["link"] in EX.links
        if "service" in f:
            assert f["service"] in EX.services
        if f["kind"] == "latency":
            assert EX.latency[0] <= f["latency"] <= EX.latency[1]
        if f["kind"] == "duplicate":
            assert EX.fraction[0] <= f["fraction"] <= EX.fraction[1]


@settings(max_examples=60, deadline=None)
@given(schedules(EX, ORDERS), st.sampled_from([None, "fragile"]))
def test_every_schedule_is_a_valid_runnable_scenario(
    schedule: list[dict[str, Any]], mode: str | None
) -> None:
    doc = variant(yaml.safe_load(BASE.read_text()), LOADED, schedule, "x", mode, Path("/tmp"))
    path = Path("/tmp") / f"aftershock-strategy-{abs(hash(str(schedule)))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        loaded = load_scenario(path)  # raises ScenarioError on anything invalid
    finally:
        path.unlink()
    assert len(loaded.scenario.faults) == len(schedule)
    assert loaded.scenario.target.mode == mode and loaded.scenario.explore is None


def test_kinds_without_a_place_to_hit_are_not_drawn() -> None:
    from harness.explore.strategy import drawable_kinds
    from harness.scenario.target import Target

    lonely = Target.model_validate(
        {"name": "t", "entrypoint": "a", "services": {"a": {"command": ["x"], "health": {"tcp": True}}}}
    )
    ex = Explore.model_validate({"kinds": ["latency", "crash", "duplicate"], "start": ["1s", "2s"]})
    assert drawable_kinds(ex, lonely) == ["crash", "duplicate"]


EX_NEWER = Explore.model_validate(
    {
        "kinds": ["bandwidth", "slicer", "slow_close", "limit_data"],
        "links": ["worker->payments", "api->db"],
        "max_faults": 3,
        "start": ["2s", "8s"],
        "duration": ["1s", "4s"],
        "latency": ["100ms", "2s"],
        "rate": [5, 50],
        "size": [10, 200],
        "bytes": [0, 500],
    }
)


@settings(max_examples=80, deadline=None)
@given(schedules(EX_NEWER, ORDERS))
def test_the_newer_link_kinds_are_drawn_within_bounds_as_runnable_scenarios(
    schedule: list[dict[str, Any]],
) -> None:
    for f in schedule:
        if f["kind"] == "bandwidth":
            assert EX_NEWER.rate[0] <= f["rate"] <= EX_NEWER.rate[1]
        if f["kind"] == "slicer":
            assert EX_NEWER.size[0] <= f["average_size"] <= EX_NEWER.size[1]
        if f["kind"] == "limit_data":
            assert EX_NEWER.bytes[0] <= f["bytes"] <= EX_NEWER.bytes[1]
    doc = variant(yaml.safe_load(BASE.read_text()), LOADED, schedule, "x", None, Path("/tmp"))
    path = Path("/tmp") / f"aftershock-strategy-newer-{abs(hash(str(schedule)))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        loaded = load_scenario(path)
    finally:
        path.unlink()
    assert [f.kind for f in loaded.scenario.faults] == [f["kind"] for f in schedule]


@settings(max_examples=40, deadline=None)
@given(
    schedules(
        Explore.model_validate(
            {"kinds": ["oom", "cpu_starve"], "start": ["2s", "8s"], "cpus": [0.05, 0.3], "max_faults": 2}
        ),
        ORDERS,
    )
)
def test_the_resource_kinds_are_drawn_as_valid_faults(schedule: list[dict[str, Any]]) -> None:
    from pydantic import TypeAdapter

    from harness.scenario.models import Fault

    for f in schedule:
        fault = TypeAdapter(Fault).validate_python(f)
        assert fault.kind in ("oom", "cpu_starve") and f["service"] in ORDERS.services
        if f["kind"] == "cpu_starve":
            assert 0.05 <= f["cpus"] <= 0.3


def test_resource_kinds_are_refused_for_explore_on_the_process_backend(tmp_path: Path) -> None:
    import pytest

    from harness.errors import ScenarioError

    doc = yaml.safe_load(BASE.read_text())
    doc["explore"]["kinds"] = ["latency", "oom"]
    path = tmp_path / "explore-oom.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ScenarioError, match=r"explore\.kinds\[1\]: .*the process backend has none \(got 'oom'\)"
    ):
        load_scenario(path)
