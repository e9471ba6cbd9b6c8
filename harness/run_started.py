"""The first event of a run: the scenario as actually run, and the machine it ran on.

Every report restates the run from this one event (mode, trials, seed, backend, load workers,
command-line overrides, environment), so ``aftershock report RUN_DIR`` needs nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Any

from harness import __version__
from harness.clock import CLOCK_NAME
from harness.events import RunStarted
from harness.scenario.loader import LoadedScenario
from harness.scenario.models import Scenario
from harness.toxiproxy.provision import TOXIPROXY_VERSION


def run_started(
    run_id: str,
    loaded: LoadedScenario,
    scenario: Scenario,
    *,
    t0_ns: int,
    overrides: dict[str, Any],
    env: dict[str, dict[str, str]],
    swept: int,
) -> RunStarted:
    """``scenario`` is the loaded one with the command line's ``overrides`` applied; ``env`` the
    environment its services got; ``swept`` how many leftovers of dead runs were removed."""
    s, target = scenario, loaded.target
    return RunStarted(
        run_id=run_id,
        scenario=s.name,
        backend=s.backend,
        trials=s.trials,
        seed=s.seed,
        t0_ns=t0_ns,
        mode=s.target.mode,
        load_workers=s.load.workers,
        overrides=overrides,
        env=env,
        swept_leftovers=swept,
        scenario_file=str(loaded.path.resolve()),
        target=target.name,
        consistency=target.consistency.model_dump() if target.consistency else None,
        wallclock=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        clock=CLOCK_NAME,
        environment={
            "aftershock": __version__,
            "python": platform.python_version(),
            "toxiproxy": TOXIPROXY_VERSION,
            "platform": platform.platform(),
            "pid": os.getpid(),
        },
    )
