"""The watchdog asks the run's Toxiproxy whether it still runs; on Compose it is a service's container.

Found by the compose-shop rehearsal: the Compose Toxiproxy answered as a never-started process
(the base class reads a local process), so the watchdog failed every Compose run at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.compose.toxiproxy import ComposeToxiproxy


class Backend:
    project = "aftershock-r1"

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def state(self, service: str) -> dict[str, Any]:
        return self._state


def server(state: dict[str, Any]) -> ComposeToxiproxy:
    return ComposeToxiproxy(Path("/nonexistent"), Path("/tmp/tp.log"), backend=Backend(state))  # type: ignore[arg-type]


def test_a_running_container_is_alive() -> None:
    assert server({"Status": "running", "Pid": 42}).exited() is None


def test_a_killed_or_missing_container_says_how_it_ended() -> None:
    killed = server({"Status": "exited", "ExitCode": 137}).exited()
    assert killed is not None and killed.startswith("its container exited")
    missing = server({"Status": "missing"}).exited()
    assert missing is not None and "aftershock-r1" in missing
