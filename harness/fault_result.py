"""A fault's measurement and its journal events, assembled into the :class:`FaultResult` reported.

The measurement (:mod:`harness.measure.recovery`) knows instants on the run clock; the journal
knows when the fault was scheduled and how long the calls took. Reporters only ever read the
assembled result, so they all print the same figures.
"""

from __future__ import annotations

from harness.events import FaultCleared, FaultInjected
from harness.measure.bracket import Bracket
from harness.measure.recovery import FaultMeasurement
from harness.results import BracketResult, FaultResult, Resolution
from harness.scenario.models import Fault


def fault_result(
    fault: Fault,
    index: int,
    m: FaultMeasurement,
    injected: FaultInjected,
    cleared: FaultCleared | None,
    cleared_at: float | None,
    t0_ns: int,
) -> FaultResult:
    """A fault's figures with what the journal says of its timing (scheduled instant, lags)."""
    scheduled = (injected.scheduled_ns - t0_ns) / 1e9
    return FaultResult(
        index=index,
        kind=fault.kind,
        target=fault.where,
        label=fault.label,
        injected_at=float(m.injected_at),
        cleared_at=cleared_at,
        time_to_impact=m.time_to_impact,
        impact_at=m.impact_at,
        recovered_at=m.recovered_at,
        recovery_time=m.recovery_time,
        recovered=bool(m.recovered),
        outage=float(m.outage),
        resolution=Resolution(**{k: float(v) for k, v in m.resolution.items()}),
        error_rate_during_fault=m.error_rate_during_fault,
        requests_during_fault=int(m.requests_during_fault),
        note=None,
        scheduled_at=scheduled,
        injection_lag=(injected.injected_ns - injected.scheduled_ns) / 1e9,
        clear_lag=None if cleared is None else cleared.lag_ns / 1e9,
        impact_bracket=_bracket(m.impact_bracket),
        recovery_bracket=_bracket(m.recovery_bracket),
        recovery_time_bracketed=m.recovery_time_bracketed,
    )


def _bracket(b: Bracket | None) -> BracketResult | None:
    return None if b is None else BracketResult(**b.to_dict())


def effect_on_the_work(f: FaultResult) -> FaultResult:
    """A fault on a link no user request crosses (worker->payments) can still move the work: a
    backlog that left its baseline range during the fault is an observed effect, never "no effect
    observed" (the HTTP view alone would call a fault that stalled every order harmless)."""
    fid, work = f.fidelity, f.business
    if fid is None or not fid.no_effect or work is None or work.left_range_at is None:
        return f
    seen = (
        f"effect observed on the work: backlog rose to {work.max_backlog} (baseline range "
        f"0..{work.baseline_backlog}) at t={work.left_range_at:.2f}s; the entrypoint's requests "
        f"did not move ({fid.note.removeprefix('no effect observed: ')})"
    )
    update = {"effect_observed": True, "no_effect": False, "note": seen}
    return f.model_copy(update={"fidelity": fid.model_copy(update=update)})
