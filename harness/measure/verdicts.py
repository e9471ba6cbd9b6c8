"""Verdicts: each stated expectation against each fault of each trial.

A missing measurement is judged as the worst case for the bound: "not recovered" fails any
``recovery_time`` bound, "never impacted" counts as an infinite ``time_to_impact`` (it meets
``>= X`` and misses ``<= X``), and a fault window with no completed request misses an
``error_rate_during_fault`` bound - silence is not success.
"""

from __future__ import annotations

import math

from harness.measure.consistency import Consistency
from harness.measure.recovery import FaultMeasurement
from harness.measure.rollback import RollbackMeasurement
from harness.results import MttrResult, Verdict
from harness.scenario.durations import Bound, format_seconds
from harness.scenario.models import Expectations, RecoveryDistribution


def _verdict(
    expectation: str,
    trial: int,
    fault: str,
    target: str,
    measured: float | bool | None,
    measured_text: str,
    passed: bool,
    margin: float | None,
    resolution: float | None = None,
) -> Verdict:
    return Verdict(
        expectation=expectation,
        trial=trial,
        fault=fault,
        target=target,
        measured=measured,
        measured_text=measured_text,
        passed=bool(passed),
        margin=margin,
        resolution=resolution,
    )


def _judge(
    name: str, bound: Bound, value: float | None, missing: str, missing_value: float, resolution: float | None
) -> tuple[bool, float | None, str]:
    measured = missing_value if value is None else value
    passed = bound.holds(measured)
    margin = None if math.isinf(measured) else bound.margin(measured)
    if value is None:
        text = missing
    elif bound.is_duration:
        text = format_seconds(value, resolution)
    else:
        text = f"{value:.4g}"
    return passed, margin, text


def judge_fault(expect: Expectations, trial: int, fault: str, m: FaultMeasurement) -> list[Verdict]:
    out: list[Verdict] = []
    per_trial = expect.recovery_time if isinstance(expect.recovery_time, Bound) else None
    checks: list[tuple[str, Bound | None, float | None, str, float, float | None]] = [
        (
            "recovery_time",
            per_trial,
            m.recovery_time,
            "not recovered",
            math.inf,
            m.resolution.get("recovery_time"),
        ),
        (
            "time_to_impact",
            expect.time_to_impact,
            m.time_to_impact,
            "never impacted",
            math.inf,
            m.resolution.get("time_to_impact"),
        ),
        ("outage", expect.outage, m.outage, "", 0.0, m.resolution.get("outage")),
        (
            "error_rate_during_fault",
            expect.error_rate_during_fault,
            m.error_rate_during_fault,
            "no completed request",
            math.inf,
            None,
        ),
    ]
    for name, bound, value, missing, missing_value, res in checks:
        if bound is None:
            continue
        passed, margin, text = _judge(name, bound, value, missing, missing_value, res)
        out.append(_verdict(name, trial, fault, bound.text, value, text, passed, margin, res))
    if expect.recovered is not None:
        out.append(
            _verdict(
                "recovered",
                trial,
                fault,
                str(expect.recovered).lower(),
                m.recovered,
                "yes" if m.recovered else "no",
                m.recovered == expect.recovered,
                None,
            )
        )
    return out


CONSISTENCY_EXPECTATIONS = {
    "lost_writes": "lost",
    "duplicate_writes": "duplicated",
    "corrupted_writes": "corrupted",
    "phantom_writes": "phantom",
    "stuck": "stuck",
}


def judge_consistency(expect: Expectations, trial: int, consistency: Consistency | None) -> list[Verdict]:
    """Consistency expectations of one trial. With no audit to reconcile, every one of them fails:
    an unverified "no data lost" is not a pass."""
    out: list[Verdict] = []
    for name, attr in CONSISTENCY_EXPECTATIONS.items():
        bound: Bound | None = getattr(expect, name)
        if bound is None:
            continue
        if consistency is None:
            out.append(_verdict(name, trial, "data", bound.text, None, "no audit", False, None))
            continue
        value = getattr(consistency, attr)  # stuck already counts pending work, each unit once
        examples = consistency.examples.get(attr, [])
        text = str(value) + (f" (e.g. {examples[0]})" if value and examples else "")
        out.append(
            _verdict(name, trial, "data", bound.text, value, text, bound.holds(value), bound.margin(value))
        )
    return out


def judge_rollback(expect: Expectations, trial: int, rb: RollbackMeasurement | None) -> list[Verdict]:
    """Rollback expectations. No rollback (never triggered, failed, unconfirmed) misses every bound."""
    out: list[Verdict] = []
    checks = [
        ("rollback_duration", expect.rollback_duration, None if rb is None else rb.rollback_duration),
        (
            "detection_to_rollback",
            expect.detection_to_rollback,
            None if rb is None else rb.detection_to_rollback,
        ),
    ]
    for name, bound, value in checks:
        if bound is None:
            continue
        if value is None:
            why = "no rollback happened" if rb is None else (rb.note or "not measured")
            out.append(_verdict(name, trial, "rollback", bound.text, None, why, False, None))
            continue
        res = rb.resolution if rb is not None else None
        out.append(
            _verdict(
                name,
                trial,
                "rollback",
                bound.text,
                value,
                format_seconds(value, res),
                bound.holds(value),
                bound.margin(value),
                res,
            )
        )
    return out


def judge_distribution(expect: Expectations, mttr: list[MttrResult]) -> list[Verdict]:
    """``recovery_time: {median|p95|max: bound}`` over all trials, per fault (trial 0 = all trials)."""
    dist = expect.recovery_time
    if not isinstance(dist, RecoveryDistribution):
        return []
    out: list[Verdict] = []
    for fault in mttr:
        for stat in ("median", "p95", "max"):
            bound: Bound | None = getattr(dist, stat)
            if bound is None:
                continue
            value: float | None = getattr(fault, stat)
            res = fault.resolution
            if value is None:
                out.append(
                    _verdict(
                        f"recovery_time.{stat}",
                        0,
                        fault.fault,
                        bound.text,
                        None,
                        "not recovered",
                        False,
                        None,
                        res,
                    )
                )
                continue
            out.append(
                _verdict(
                    f"recovery_time.{stat}",
                    0,
                    fault.fault,
                    bound.text,
                    value,
                    format_seconds(value, res) + f" over {fault.trials} trials",
                    bound.holds(value),
                    bound.margin(value),
                    res,
                )
            )
    return out


def judge_data_restored(
    expect: Expectations, trial: int, has_rollback: bool, damage: dict[str, int] | None
) -> list[Verdict]:
    """``data_restored``: after a rollback, no lost, duplicated or corrupted write remains.

    On by default for a scenario with a rollback: a rollback restores the service, not the data,
    and a run that leaves damage behind must not read as a full recovery. No verdict without a
    consistency contract (``damage`` None): there is nothing to judge the data by.
    """
    wanted = expect.data_restored if expect.data_restored is not None else has_rollback
    if not wanted or damage is None:
        return []
    left = {kind: n for kind, n in damage.items() if n}
    text = "clean" if not left else ", ".join(f"{n} {kind}" for kind, n in left.items()) + " remain"
    total = sum(left.values())
    return [
        _verdict("data_restored", trial, "rollback", "no damage left", total, text, not left, -float(total))
    ]
