"""The harness's side of load-layer faults: a JSON control file the load process polls.

Why a file: the load runs in its own process (gevent), and a file written atomically in the
trial directory needs no extra port, works for every Locust worker on the machine, and leaves a
trace. The harness journals the instant it wrote the file; the load process sees it within 20 ms.

Stopping uses two more files (see :mod:`harness.load.runner`): the harness creates
:data:`STOP_FILE` and then takes the stop instant; each load process checks that file after
stamping a request's start and before sending it, so no request starts after the stop instant.
When a load process has seen the stop and its last request in flight is in the ledger, it closes
its shard and writes :func:`done_marker` beside it.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.files import atomic_write_text
from harness.scenario.models import DuplicateFault

CONTROL_FILE = "load.control"
#: Created by the harness at the stop instant; a request whose start is later is never sent.
STOP_FILE = "load.stop"
#: ``ledger-<pid>.done``: written by a load process once its last request is in its closed shard.
DONE_SUFFIX = ".done"
#: ``remote-<worker>.refused``: the Locust master refused a remote worker (the reason inside).
REFUSED_SUFFIX = ".refused"
#: ``remote-<worker>.stopped``: the latest run-clock instant a remote worker may have started a
#: request (it hears of the stop over the network; see :mod:`harness.load.remote`).
STOPPED_SUFFIX = ".stopped"
#: ``worker-<n>.lost``: a load worker (local or remote) left before the stop; JSON inside:
#: ``worker``, ``host``, ``why``, ``at_ns`` (run clock, when the master noticed).
LOST_SUFFIX = ".lost"
#: How many remote workers the master waits for, on top of its local ones.
REMOTE_WORKERS_ENV = "AFTERSHOCK_REMOTE_WORKERS"


def done_marker(shard: Path) -> Path:
    """The marker a load process writes beside its ledger shard when the shard is complete."""
    return shard.with_suffix(DONE_SUFFIX)


class LoadControl:
    def __init__(self, trial_dir: Path) -> None:
        self.path = trial_dir / CONTROL_FILE
        self.state: dict[str, Any] = {}

    def set(self, name: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.state.pop(name, None)
        else:
            self.state[name] = value
        atomic_write_text(self.path, json.dumps(self.state))


class DuplicateRequests(AbstractContextManager["DuplicateRequests"]):
    """While active, the load resends ``fraction`` of its writes under the same idempotency key."""

    clears_itself = False

    def __init__(self, spec: DuplicateFault, control: LoadControl) -> None:
        self.spec = spec
        self.control = control

    def __enter__(self) -> DuplicateRequests:
        self.control.set("duplicate", {"fraction": self.spec.fraction, "delay": self.spec.delay})
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.control.set("duplicate", None)
