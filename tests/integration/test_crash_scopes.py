"""Crash as an operator would, on real processes: a signal (KILL, TERM, INT) to a scope of the
service (group, main, children), and ``when_log`` + ``delay`` landing the kill mid-job.

The service is a worker pool (``tests/fixtures/services/pool.py``): a main process that forks two
workers, each logging its jobs and the signals it receives, every line stamped on the run clock.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from harness.faults.service import ServiceCrash
from harness.scenario.target import Target
from harness.targets.process import ProcessBackend
from harness.targets.process_signals import alive, group_members

pytestmark = pytest.mark.integration

POOL = Path(__file__).parents[1] / "fixtures" / "targets" / "netcut" / "pool.py"


class Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, tag: str, **fields: Any) -> None:
        self.events.append((tag, fields))

    def killed(self) -> list[dict[str, Any]]:
        return [f for tag, f in self.events if tag == "service_killed"]


def _pool(tmp_path: Path, journal: Journal) -> ProcessBackend:
    target = Target.model_validate(
        {
            "name": "pool",
            "entrypoint": "pool",
            "services": {
                "pool": {
                    "command": ["{python}", str(POOL)],
                    "health": {"log": "^pool ready"},
                    "startup_timeout": "20s",
                }
            },
        }
    )
    return ProcessBackend(target, tmp_path, tmp_path / "run", "crash-scopes", emit=journal)


def _started(backend: ProcessBackend) -> tuple[int, list[int]]:
    """(main pid, worker pids) once the pool is up."""
    backend.start("pool", {})
    main = backend.pid("pool")
    assert main is not None
    workers = [p for p in group_members(main) if p != main]
    assert len(workers) == 2
    return main, workers


def _log(backend: ProcessBackend) -> str:
    return backend.log_path("pool").read_text()


def test_children_kills_the_workers_and_leaves_the_main(tmp_path: Path) -> None:
    journal = Journal()
    with _pool(tmp_path, journal) as backend:
        main, workers = _started(backend)
        backend.kill("pool", "KILL", "children")
        assert not any(alive(w) for w in workers)
        assert alive(main) and backend.pid("pool") == main
        assert journal.killed()[-1] == {
            "service": "pool",
            "signal": "KILL",
            "scope": "children",
            "processes": 2,
        }


def test_main_kills_the_main_only_and_the_restart_takes_the_orphans(tmp_path: Path) -> None:
    journal = Journal()
    with _pool(tmp_path, journal) as backend:
        main, workers = _started(backend)
        backend.kill("pool", "KILL", "main")
        assert not alive(main) and backend.pid("pool") is None
        # orphaned, not dead: they keep working (reparented), still in the service's group
        assert all(alive(w) for w in workers)
        assert sorted(group_members(main)) == sorted(workers)
        backend.restart("pool")  # like a supervisor: what is left of the old instance goes first
        assert not any(alive(w) for w in workers)
        new_main, new_group = backend.pid("pool"), group_members(backend.pid("pool") or 0)
        assert new_main not in (None, main) and len(new_group) == 3  # a new main and two workers


def test_group_kills_every_process(tmp_path: Path) -> None:
    journal = Journal()
    with _pool(tmp_path, journal) as backend:
        main, workers = _started(backend)
        backend.kill("pool")  # the default: KILL to the group
        assert not any(alive(p) for p in [main, *workers])
        assert journal.killed()[-1]["processes"] == 3
        assert " got " not in _log(backend)  # a KILL cannot be caught: nobody said anything


def test_term_is_seen_by_every_process_and_kill_by_none(tmp_path: Path) -> None:
    journal = Journal()
    with _pool(tmp_path, journal) as backend:
        main, workers = _started(backend)
        backend.kill("pool", "TERM", "group")
        deadline = time.monotonic() + 20
        while any(alive(p) for p in [main, *workers]) and time.monotonic() < deadline:
            time.sleep(0.05)
        said = re.findall(r"^(main|worker) (\d+) got (\w+)", _log(backend), re.M)
        assert sorted(said) == sorted(
            [("main", str(main), "TERM")] + [("worker", str(w), "TERM") for w in workers]
        )
    journal_int = Journal()
    with _pool(tmp_path / "int", journal_int) as backend:
        main, workers = _started(backend)
        backend.kill("pool", "INT", "main")
        deadline = time.monotonic() + 20
        while alive(main) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert re.findall(r"^(main|worker) \d+ got (\w+)", _log(backend), re.M) == [("main", "INT")]
        assert all(alive(w) for w in workers)  # INT to the main alone: the workers never saw it


def test_when_log_with_delay_kills_after_the_delay_mid_job(tmp_path: Path) -> None:
    journal = Journal()
    with _pool(tmp_path, journal) as backend:
        backend.start("pool", {})
        crash = ServiceCrash(
            "pool", backend, restart=False, when_log=r"^worker \d job 2 started", delay=0.3, scope="children"
        )
        with crash:
            pass
        assert crash.trigger is not None and crash.kill_sent_ns is not None
        matched = re.search(r"^worker (\d) job 2 started at (\d+)$", crash.trigger)
        assert matched is not None
        worker, started_ns = matched.group(1), int(matched.group(2))
        # the order, from the service's own stamp and the harness's: line, then 300 ms, then the kill
        assert crash.kill_sent_ns - started_ns >= 300_000_000
        assert f"worker {worker} job 2 done" not in _log(backend)  # a 2 s job: killed mid-job
        assert journal.killed()[-1]["scope"] == "children"
