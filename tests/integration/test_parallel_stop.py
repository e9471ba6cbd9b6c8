"""Teardown stops independent services together, and a client before the services it needs
(issue 13, dead time per trial). Real processes on the process backend; no load, about 2 s."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.scenario.target import Target
from harness.targets.process import ProcessBackend

pytestmark = pytest.mark.integration

# On its stop signal a service marks that it got it; "payments" then waits (up to 4 s, inside
# the 5 s grace) for "db" to have got its own: only a parallel stop lets it see that. Each notes
# whether the api (which needs both) had already exited when its signal came.
SERVICE = r"""
import os, signal, sys, time
name, where = sys.argv[1], sys.argv[2]
def mark(f, text=""):
    open(os.path.join(where, f), "w").write(text)
def on_stop(*_):
    mark(name + ".term", "api gone" if os.path.exists(os.path.join(where, "api.exited")) else "api alive")
    if name == "payments":
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and not os.path.exists(os.path.join(where, "db.term")):
            time.sleep(0.01)
        mark("payments.saw", "db" if os.path.exists(os.path.join(where, "db.term")) else "nothing")
    mark(name + ".exited")
    os._exit(0)
signal.signal(signal.SIGTERM, on_stop)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def test_independent_services_stop_together_clients_first(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    marks = tmp_path / "marks"
    marks.mkdir()

    def service(name: str, needs: list[str]) -> dict[str, object]:
        return {
            "command": [sys.executable, str(script), name, str(marks)],
            "health": {"log": "^ready"},
            "depends_on": needs,
        }

    target = Target.model_validate(
        {
            "name": "stop-order",
            "entrypoint": "api",
            "services": {
                "db": service("db", []),
                "payments": service("payments", []),
                "api": service("api", ["db", "payments"]),
            },
        }
    )
    stopped: list[str] = []

    def emit(tag: str, **fields: object) -> None:
        if tag == "service_stopped":
            stopped.append(str(fields["service"]))

    backend = ProcessBackend(target, tmp_path, tmp_path / "run", "stop-order-test", emit=emit)
    for name in target.start_order():
        backend.start(name, {})
    backend.stop_all()
    assert stopped[0] == "api" and sorted(stopped[1:]) == ["db", "payments"]
    assert (marks / "payments.saw").read_text() == "db"  # both were stopping at once
    assert (marks / "db.term").read_text() == "api gone"
    assert (marks / "payments.term").read_text() == "api gone"
