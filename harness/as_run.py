"""The scenario as actually run: the scenario file plus the command line's overrides.

The orchestrator applies the overrides and journals them (``run_started.overrides``); the analysis
applies the same ones to the run dir's scenario copy, so a re-analysis judges the scenario that ran.
"""

from __future__ import annotations

from typing import Any

from harness.scenario.models import Scenario

#: What the command line may override (``aftershock run --backend/--trials/--seed/--mode/--load-workers``).
OVERRIDABLE = ("backend", "trials", "seed", "mode", "load_workers")


def apply_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """``scenario`` with ``overrides`` (name -> value, names from :data:`OVERRIDABLE`) applied."""
    update: dict[str, Any] = {k: overrides[k] for k in ("backend", "trials", "seed") if k in overrides}
    if "load_workers" in overrides:
        update["load"] = scenario.load.model_copy(update={"workers": overrides["load_workers"]})
    if "mode" in overrides:
        update["target"] = scenario.target.model_copy(update={"mode": overrides["mode"]})
    return scenario.model_copy(update=update) if update else scenario
