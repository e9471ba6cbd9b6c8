"""MTTR over trials (DESIGN.md): median, p95 and max of ``recovery_time``, with every value.

A trial that did not recover counts as an infinite recovery time: it can only push the
distribution up, never vanish from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.results import MttrResult, TrialResult, TrialValue


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """numpy's "linear" percentile (the health maths' method), but exact with ``inf`` values."""
    n = len(sorted_values)
    pos = q / 100 * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    a, b = sorted_values[lo], sorted_values[hi]
    frac = pos - lo
    if frac == 0 or a == b:
        return a
    if math.isinf(b):
        return math.inf
    return a + frac * (b - a)


def _json(value: float) -> float | None:
    return None if math.isinf(value) else value


def mttr_over_trials(trials: Sequence[TrialResult]) -> list[MttrResult]:
    """Per fault of the scenario (by index): the recovery time of every trial and their spread."""
    groups: dict[int, tuple[str, list[TrialValue]]] = {}
    for trial in trials:
        for f in trial.faults:
            label, values = groups.setdefault(f.index, (f.label, []))
            values.append(
                TrialValue(
                    trial=trial.trial, recovery_time=f.recovery_time, resolution=f.resolution.recovery_time
                )
            )
    out: list[MttrResult] = []
    for index in sorted(groups):
        label, values = groups[index]
        ordered = sorted(math.inf if v.recovery_time is None else float(v.recovery_time) for v in values)
        resolutions = [v.resolution for v in values if v.resolution is not None]
        out.append(
            MttrResult(
                fault=label,
                index=index,
                values=values,
                trials=len(ordered),
                median=_json(percentile(ordered, 50)),
                p95=_json(percentile(ordered, 95)),
                max=_json(ordered[-1]),
                all_recovered=not math.isinf(ordered[-1]),
                resolution=max(resolutions) if resolutions else None,
            )
        )
    return out
