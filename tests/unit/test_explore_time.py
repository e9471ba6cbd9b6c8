"""``aftershock explore --time`` bounds the search, not the setup before it.

Loading the scenario, importing hypothesis and building the strategy can take seconds on a busy
machine; with ``--time 1s`` a clock started at setup could expire before the first rehearsal, and
the search would end having tried nothing. The clock starts when the search asks for its first
rehearsal. The clock is faked here (pure logic); the rehearsal itself is skipped by handing the
search a schedule that already passed (a passed schedule is never rehearsed twice).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.explore import search
from harness.explore.search import Example, _Rehearsals
from harness.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]
SCHEDULE: list[dict[str, Any]] = [{"kind": "down", "link": "api->db", "at": 3.0, "duration": 1.0}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rehearsals(tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> _Rehearsals:
    monkeypatch.setattr(search, "time", SimpleNamespace(monotonic=clock))  # this module's clock only
    loaded = load_scenario(REPO / "scenarios" / "explore-orders.yaml")
    said: list[str] = []
    r = _Rehearsals(loaded, tmp_path, {}, cap=10, time_limit=1.0, mode=None, say=said.append)
    key = json.dumps(SCHEDULE, sort_keys=True)
    r.seen[key] = Example(1, SCHEDULE, "passed")  # already rehearsed and passed: not run again
    return r


def test_setup_before_the_first_rehearsal_is_not_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    rehearsals = _rehearsals(tmp_path, clock, monkeypatch)
    clock.now += 5.0  # a slow setup: imports, strategy, replays
    rehearsals.rehearse(SCHEDULE)  # within the limit: the search has only just started
    clock.now += 0.5
    rehearsals.rehearse(SCHEDULE)


@pytest.mark.filterwarnings("ignore:Using `reject` outside a property-based test")
def test_the_limit_still_ends_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hypothesis.errors import UnsatisfiedAssumption

    clock = FakeClock()
    rehearsals = _rehearsals(tmp_path, clock, monkeypatch)
    rehearsals.rehearse(SCHEDULE)  # the search starts here
    clock.now += 1.5
    with pytest.raises(UnsatisfiedAssumption):  # hypothesis' reject(): no more rehearsals
        rehearsals.rehearse(SCHEDULE)
