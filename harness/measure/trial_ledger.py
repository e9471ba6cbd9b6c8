"""A trial's figures that come from its whole ledger: the data consistency and the failure breakdown.

Both take the columns of the trial's one read of the ledger (:func:`harness.measure.columns.read_ledger`,
the same read the samples came from), so analysing a trial parses its ledger once, whatever it holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from harness.load.ledger import shard_paths
from harness.measure.audit_columns import read_keyed_effects
from harness.measure.audit_store import audit_location, has_audit
from harness.measure.columns import OK, LedgerColumns, read_ledger
from harness.measure.consistency import Consistency, reconcile_columns
from harness.measure.failures import NO_FAULT, TEXT_LIMIT, status_class
from harness.measure.key_index import forget_key_index
from harness.results.failures import ErrorText, FailureBreakdown, FailureGroup
from harness.run_record import RunRecord

if TYPE_CHECKING:
    from harness.measure.trial_analysis import TrialAnalysis


class _Endpoints(dict[str, str]):
    """How an audit source is named in an error: the service and the file it was kept in."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def __missing__(self, svc: str) -> str:
        return f"service {svc!r} ({self.path})"


def consistency_of(run_dir: Path, record: RunRecord, trial: int) -> Consistency | None:
    """Reconcile a trial's ledger with its audit, if the target has a consistency contract.

    The audit is validated first (:class:`~harness.measure.audit.AuditSchemaError` names the first
    offending path); the ledger's columns are those the samples were read from."""
    contract = record.started.consistency
    trial_dir = run_dir / f"trial-{trial}"
    if not contract or not has_audit(trial_dir):
        return None
    ledger = read_ledger(shard_paths(trial_dir))
    effects = read_keyed_effects(trial_dir, _Endpoints(audit_location(trial_dir)), ledger)
    try:
        return reconcile_columns(
            ledger,
            effects,
            write_ops=contract["write_ops"],
            primary=contract["primary"],
            final_status=contract.get("final_status"),
        )
    finally:
        forget_key_index()  # the reports that follow need none: its memory goes back now


def failures_of(run_dir: Path, t0_ns: int, a: TrialAnalysis) -> FailureBreakdown:
    """The trial's failed requests broken down, from the ledger's columns."""
    windows = [(f.label, f.injected_at, f.cleared_at) for f in a.faults]
    return failure_breakdown_columns(read_ledger(shard_paths(run_dir / f"trial-{a.trial}")), t0_ns, windows)


def failure_breakdown_columns(
    ledger: LedgerColumns, t0_ns: int, windows: list[tuple[str, float, float | None]]
) -> FailureBreakdown:
    """:func:`harness.measure.failures.failure_breakdown` on columns: the same groups, in the same
    order, with the same shares and texts; ``windows`` are ``(label, injected_at, cleared_at)``.

    Classes and texts are worked out once per distinct status and error text, not per row."""
    ops = ledger.op.dictionary_encode()
    op_names = [str(o) for o in ops.dictionary.to_pylist()]
    op_of = np.asarray(ops.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    per_op = np.bincount(op_of, minlength=len(op_names))
    failed = np.flatnonzero(ledger.code != OK)
    if not failed.size:
        return FailureBreakdown(failed=0, groups=[], top_errors=[])
    rows = _FailedRows.of(ledger, failed, op_of[failed], t0_ns)
    class_names, cls = _status_classes(rows)
    width_c, width_o = max(len(class_names), 1), max(len(rows.outcome_names), 1)
    gid = (rows.op * width_c + cls) * width_o + rows.outcome
    uniq, first, inv, count = np.unique(gid, return_index=True, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    lo = np.full(uniq.size, np.inf)
    hi = np.full(uniq.size, -np.inf)
    np.minimum.at(lo, inv, rows.end)
    np.maximum.at(hi, inv, rows.end)
    during = _fault_windows(rows.end, inv, uniq.size, windows)
    out = []
    for gr in np.argsort(first, kind="stable").tolist():  # first seen first, as the rows come
        g = int(uniq[gr])
        outcome, rest = g % width_o, g // width_o
        op, c = rest // width_c, rest % width_c
        out.append(
            FailureGroup(
                op=op_names[op],
                status=class_names[c],
                outcome=rows.outcome_names[outcome],
                count=int(count[gr]),
                share=int(count[gr]) / int(per_op[op]),
                first_seen=float(lo[gr]),
                last_seen=float(hi[gr]),
                during=sorted(set(during[gr])),
            )
        )
    out.sort(key=lambda g: (-g.count, g.op, g.status))
    return FailureBreakdown(failed=sum(g.count for g in out), groups=out, top_errors=_top_errors(rows))


@dataclass(frozen=True)
class _FailedRows:
    """The failed requests' columns, each text column as codes into its distinct values."""

    op: NDArray[np.int64]
    status: NDArray[np.int64]
    end: NDArray[np.float64]  # seconds from the run's start
    error: NDArray[np.int64]
    error_texts: list[str]
    outcome: NDArray[np.int64]
    outcome_names: list[str]

    @classmethod
    def of(
        cls, ledger: LedgerColumns, failed: NDArray[np.intp], op: NDArray[np.int64], t0_ns: int
    ) -> _FailedRows:
        import pyarrow as pa

        take = pa.array(failed)  # as text again, then coded by first appearance among these rows
        errors = ledger.error.take(take).cast(pa.string()).dictionary_encode()
        outcomes = ledger.outcome.take(take).cast(pa.string()).dictionary_encode()
        return cls(
            op=op,
            status=ledger.status[failed],
            end=(ledger.end_ns[failed] - np.int64(t0_ns)).astype(np.float64) / 1e9,
            error=np.asarray(errors.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
            error_texts=[str(e) for e in errors.dictionary.to_pylist()],
            outcome=np.asarray(outcomes.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
            outcome_names=[str(o) for o in outcomes.dictionary.to_pylist()],
        )


def _status_classes(rows: _FailedRows) -> tuple[list[str], NDArray[np.int64]]:
    """The status class of each failed row: by status when there is one, else by error text;
    the class names in the order first met, and each row's code into them."""
    class_names: list[str] = []
    class_code: dict[str, int] = {}

    def code_of(name: str) -> int:
        if name not in class_code:
            class_code[name] = len(class_names)
            class_names.append(name)
        return class_code[name]

    by_error = np.array([code_of(status_class(0, t)) for t in rows.error_texts], dtype=np.int64)
    statuses = np.unique(rows.status[rows.status != 0])
    by_status = np.array([code_of(str(int(s))) for s in statuses], dtype=np.int64)
    cls = by_error[rows.error]
    answered = rows.status != 0
    if answered.any():
        cls[answered] = by_status[np.searchsorted(statuses, rows.status[answered])]
    return class_names, cls


def _fault_windows(
    end: NDArray[np.float64], inv: NDArray[np.intp], n: int, windows: list[tuple[str, float, float | None]]
) -> list[list[str]]:
    """For each of ``n`` groups, the faults during which one of its requests ended (or "no fault")."""
    anywhere = np.zeros(end.size, dtype=np.bool_)
    during: list[list[str]] = [[] for _ in range(n)]
    for label, start, stop in windows:
        inside = (start <= end) & (end <= stop) if stop is not None else start <= end
        anywhere |= inside
        for gr in np.flatnonzero(np.bincount(inv, weights=inside, minlength=n) > 0).tolist():
            during[gr].append(label)
    for gr in np.flatnonzero(np.bincount(inv, weights=~anywhere, minlength=n) > 0).tolist():
        during[gr].append(NO_FAULT)
    return during


def _top_errors(rows: _FailedRows) -> list[ErrorText]:
    """The three most frequent error texts of the failed requests (first words, trimmed)."""
    texts: Counter[str] = Counter()
    per_error = np.bincount(rows.error, minlength=len(rows.error_texts))
    for text, times in zip(rows.error_texts, per_error.tolist(), strict=True):
        if text:
            texts[text.strip()[:TEXT_LIMIT]] += times
    return [ErrorText(text=t, count=n) for t, n in texts.most_common(3)]
