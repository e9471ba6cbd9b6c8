"""Services start in parallel, each only after what it needs is healthy (pure scheduling logic)."""

from __future__ import annotations

import threading

import pytest

from harness.targets.parallel_start import start_in_parallel


def test_independent_services_start_together_and_clients_after_their_servers() -> None:
    # db and payments need nothing: each waits for the other to have started (a barrier that
    # only a parallel start can pass); api needs both; worker needs db.
    needs = {"db": set(), "payments": set(), "api": {"db", "payments"}, "worker": {"db"}}
    both = threading.Barrier(2, timeout=10)
    events: list[str] = []
    lock = threading.Lock()

    def start(name: str) -> None:
        with lock:
            events.append(f"start {name}")
        if name in ("db", "payments"):
            both.wait()
        with lock:
            events.append(f"up {name}")

    order = start_in_parallel(needs, start)
    assert sorted(order) == ["api", "db", "payments", "worker"]
    for client, servers in needs.items():
        for server in servers:
            assert events.index(f"up {server}") < events.index(f"start {client}")


def test_a_failed_start_stops_further_starts_and_raises_it() -> None:
    needs = {"db": set(), "cache": set(), "api": {"db"}}
    started: list[str] = []

    def start(name: str) -> None:
        started.append(name)
        if name == "db":
            raise RuntimeError("db did not become healthy")

    with pytest.raises(RuntimeError, match="db did not become healthy"):
        start_in_parallel(needs, start)
    assert "api" not in started
