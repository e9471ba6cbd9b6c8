"""MTTR over trials, as the reports show it (DESIGN.md, "MTTR over trials")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.measure.trials import percentile
from harness.report.words import seconds_text
from harness.results import Results


@dataclass(frozen=True)
class MttrStats:
    """DESIGN.md's "MTTR over trials" for one fault of the scenario.

    ``values`` are ``(trial, recovery_time or None, resolution)``; None is "not recovered",
    counted as infinitely long (so a median over mostly unrecovered trials is "not recovered",
    never a flattering number computed over the survivors). ``median``, ``p95`` and ``max`` are
    ``math.inf`` in that case. ``resolution`` is the largest of the values' resolutions.
    """

    fault: str
    values: tuple[tuple[int, float | None, float | None], ...]
    median: float
    p95: float
    max: float
    resolution: float | None

    @property
    def recovered(self) -> int:
        return sum(1 for _, v, _ in self.values if v is not None)


_percentile = percentile  # one definition, in harness.measure.trials


def mttr_stats(results: Results) -> list[MttrStats]:
    """Median, p95 and max of ``recovery_time`` over trials, per fault (by scenario index)."""
    groups: dict[tuple[int, str], list[tuple[int, float | None, float | None]]] = {}
    for trial, f in results.faults():
        rt = f.recovery_time
        groups.setdefault((f.index, f.label), []).append(
            (trial, None if rt is None else float(rt), f.resolution.recovery_time)
        )
    out: list[MttrStats] = []
    for (_, label), values in sorted(groups.items()):
        ordered = sorted(math.inf if v is None else v for _, v, _ in values)
        resolutions = [r for _, _, r in values if r is not None]
        out.append(
            MttrStats(
                fault=label,
                values=tuple(values),
                median=_percentile(ordered, 50),
                p95=_percentile(ordered, 95),
                max=ordered[-1],
                resolution=max(resolutions) if resolutions else None,
            )
        )
    return out


def mttr_text(value: float, resolution: float | None) -> str:
    """An MTTR figure in words: ``not recovered`` for infinity."""
    return "not recovered" if math.isinf(value) else seconds_text(value, resolution)
