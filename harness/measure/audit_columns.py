"""A trial's audit as columns, for the reconcile and the operations view, whichever layout it
was kept in: a line per effect (:mod:`harness.measure.audit_lines`, how a run keeps it) or one
``audit.json`` (:mod:`harness.measure.audit_legacy`, older runs). Either way Arrow parses it once
per trial with no Python object per effect, and anything it cannot take plainly goes through
:func:`harness.measure.audit.validate_audit`, so a malformed audit reads exactly as it did."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.measure.audit_arrays import EffectColumns, WorkArrays, columns_of, effect_columns
from harness.measure.audit_legacy import read_legacy_effects, read_legacy_work
from harness.measure.audit_lines import read_line_effects, read_line_work
from harness.measure.audit_store import AUDIT_DIR, LEGACY_FILE, audit_documents
from harness.measure.columns import LedgerColumns
from harness.measure.key_index import key_index_of
from harness.measure.keyed_effects import KeyedEffects, keyed

__all__ = [
    "EffectColumns",
    "WorkArrays",
    "columns_of",
    "effect_columns",
    "read_effect_columns",
    "read_keyed_effects",
    "read_work_arrays",
]


def read_effect_columns(trial_dir: Path, endpoint_of: Mapping[str, str]) -> EffectColumns:
    """:func:`effect_columns` of a trial's kept audit, as text columns: for small audits and tests
    (an analysis reads :func:`read_keyed_effects`, which never holds the effects as text). The
    older ``audit.json`` is parsed by Arrow when it can; the line layout is read as documents. A
    document that breaks the contract raises :class:`AuditSchemaError` naming the first bad path."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        return read_legacy_effects(trial_dir / LEGACY_FILE, endpoint_of)
    return effect_columns(audit_documents(trial_dir), endpoint_of)


def read_keyed_effects(
    trial_dir: Path, endpoint_of: Mapping[str, str], ledger: LedgerColumns
) -> KeyedEffects:
    """The trial's effects as the reconcile holds them (:mod:`harness.measure.keyed_effects`), keys
    found among ``ledger``'s (the trial's one read, which the line layout's pass reads itself: the
    same cached columns). Arrow parses the effects by column and their types stand for the schema
    check (any effect that is not plainly valid sends its source through the contract's model, so
    a malformed audit raises the same :class:`AuditSchemaError` as always). The line layout is read
    block by block and never held as text; the trial's parse is released here (the reconcile is
    its last reader)."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        return keyed(read_legacy_effects(trial_dir / LEGACY_FILE, endpoint_of), key_index_of(ledger.key))
    return read_line_effects(trial_dir, endpoint_of)


def read_work_arrays(trial_dir: Path) -> WorkArrays | None:
    """The work items of a trial's kept audit as arrays, from the same Arrow parse as the
    reconcile's (:func:`read_keyed_effects`), with no Python object per effect. None where Arrow
    cannot hold the stamps as integer columns: the caller then reads the documents as JSON."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        return read_legacy_work(trial_dir / LEGACY_FILE)
    return read_line_work(trial_dir)
