"""Services that serve nothing, declared without a wrapper: log, process and command health,
probed by the one health module on real processes (process backend)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.scenario.target import Target
from harness.targets.process import ProcessBackend

pytestmark = pytest.mark.integration

# A worker with no port: says "ready" after a moment, drops a file in its workdir, then works on.
WORKER = (
    "import sys, time, pathlib; time.sleep(0.4); print('worker ready', flush=True);"
    " pathlib.Path(sys.argv[1], 'ready').touch(); time.sleep(600)"
)
CRASHER = "import time; time.sleep(0.3); raise SystemExit(3)"


def _backend(tmp_path: Path, health: dict[str, object], script: str = WORKER) -> ProcessBackend:
    target = Target.model_validate(
        {
            "name": "portless",
            "entrypoint": "worker",
            "services": {
                "worker": {
                    "command": ["{python}", "-c", script, "{workdir}"],
                    "health": health,
                    "startup_timeout": "10s",
                }
            },
        }
    )
    return ProcessBackend(target, tmp_path, tmp_path / "run", "health-kinds")


def test_log_health_waits_for_a_line_of_this_start(tmp_path: Path) -> None:
    # unanchored on purpose: aftershock's own start marker quotes the command, which holds the text
    with _backend(tmp_path, {"log": "worker ready"}) as backend:
        began = time.monotonic()
        backend.start("worker", {})
        assert time.monotonic() - began >= 0.4  # not the marker line
        backend.kill("worker")
        began = time.monotonic()
        backend.restart("worker")
        assert time.monotonic() - began >= 0.4  # not the previous start's line either
        lines = backend.log_path("worker").read_text().splitlines()
        assert lines.count("worker ready") == 2


def test_command_health_runs_beside_the_service(tmp_path: Path) -> None:
    with _backend(tmp_path, {"command": ["test", "-f", "{workdir}/ready"]}) as backend:
        backend.start("worker", {})
        assert backend.pid("worker") is not None


def test_process_health_passes_when_alive_and_fails_when_it_exits(tmp_path: Path) -> None:
    with _backend(tmp_path, {"process": True, "alive_for": "0.5s"}) as backend:
        backend.start("worker", {})
    with (
        _backend(tmp_path, {"process": True, "alive_for": "2s"}, CRASHER) as backend,
        pytest.raises(InfrastructureError, match="exited during start-up with code 3"),
    ):
        backend.start("worker", {})


def test_a_log_line_that_never_comes_times_out_with_the_kind(tmp_path: Path) -> None:
    backend = _backend(tmp_path, {"log": "never printed"})
    spec = backend.target.services["worker"]
    fast = spec.model_copy(update={"startup_timeout": 1.0})
    backend.target = backend.target.model_copy(update={"services": {"worker": fast}})
    with backend, pytest.raises(InfrastructureError, match="health log, last check: no log line matches"):
        backend.start("worker", {})
