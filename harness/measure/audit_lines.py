"""A trial's audit kept a line per effect (:mod:`harness.measure.audit_store`), read by Arrow
block by block, once per trial.

Each block's string columns for the reconcile and the work items' stamps for the operations view
are kept, the rest of the block dropped, and no Python object is built per effect, so the
analysis holds the columns it needs and never the audit's text. A source Arrow cannot take
plainly (a type that changes between blocks, a field missing) goes through the JSON path and the
contract's model, so a malformed audit reads exactly as it always did."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.measure.audit_arrays import (
    ColumnParts,
    EffectColumns,
    WorkArrays,
    arrow_value_texts,
    columns_of,
    effect_columns,
)
from harness.measure.audit_store import AUDIT_DIR, AuditSource, audit_sources, source_document
from harness.measure.columns import FileIdentity, file_identity, release_unused, use_system_allocator

if TYPE_CHECKING:
    import pyarrow as pa


def read_line_effects(trial_dir: Path, endpoint_of: Mapping[str, str]) -> EffectColumns:
    """The effects of every source; the trial's parse is released (the reconcile reads last)."""
    parsed = _take_pass(trial_dir)
    parts: list[ColumnParts] = []
    for source, one in zip(parsed.sources, parsed.passes, strict=True):
        if one.columns is not None:
            parts.append(one.columns)
        else:
            parts.append(_columns_of_docs({source.service: source_document(source)}, endpoint_of))
    return columns_of(parts) if parts else columns_of([([], [], [], [], [], 0)])


def read_line_work(trial_dir: Path) -> WorkArrays | None:
    """The work stamps of every source, from the parse the reconcile takes next; None if any
    source's stamps are not integer columns. The kept parse lets go of them (the reconcile does
    not need them): they are the caller's now, not held twice."""
    parsed = _peek_pass(trial_dir)
    if parsed.work_taken:  # asked again: parse anew rather than say "not integer columns"
        parsed = _parse_trial(trial_dir)
    if any(one.work is None for one in parsed.passes):
        return None
    work = _joined_work([one.work for one in parsed.passes if one.work is not None])
    _passes[_pass_identity(trial_dir)] = dataclasses.replace(
        parsed, passes=[dataclasses.replace(one, work=None) for one in parsed.passes], work_taken=True
    )
    return work


def _columns_of_docs(docs: Mapping[str, object], endpoint_of: Mapping[str, str]) -> ColumnParts:
    """The columns of documents read as JSON: checked by column, or judged by the model."""
    out = effect_columns(docs, endpoint_of)
    return (out.kind, out.key, out.value, out.status, out.id, out.pending)


#: Bytes of effect lines Arrow parses at a time: the text held at once, whatever the audit's size.
BLOCK = 1 << 20
_WorkParts = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]


@dataclass(frozen=True, eq=False)
class _SourcePass:
    """One source's parse: its columns (None: not plainly valid, the JSON path judges it) and its
    work stamps (None: not integer columns, the JSON path reads them)."""

    columns: ColumnParts | None
    work: _WorkParts | None


@dataclass(frozen=True, eq=False)
class _TrialPass:
    sources: list[AuditSource]
    passes: list[_SourcePass]
    work_taken: bool = False  # the work stamps were handed over and dropped from here


_passes: dict[tuple[FileIdentity, ...], _TrialPass] = {}


def _pass_identity(trial_dir: Path) -> tuple[FileIdentity, ...]:
    """The source files' identities (:func:`file_identity`): a rewritten audit reads anew."""
    return tuple(file_identity(p) for p in sorted((trial_dir / AUDIT_DIR).glob("*.jsonl")))


def _peek_pass(trial_dir: Path) -> _TrialPass:
    """The trial's parse, kept for its next reader (the reconcile takes it)."""
    ident = _pass_identity(trial_dir)
    if ident not in _passes:
        _passes.clear()  # one audit at a time
        _passes[ident] = _parse_trial(trial_dir)
    return _passes[ident]


def _take_pass(trial_dir: Path) -> _TrialPass:
    hit = _passes.pop(_pass_identity(trial_dir), None)
    _passes.clear()
    return _parse_trial(trial_dir) if hit is None else hit


def _parse_trial(trial_dir: Path) -> _TrialPass:
    use_system_allocator()
    sources = audit_sources(trial_dir)
    return _TrialPass(sources, [_parse_source(s) for s in sources])


def _parse_source(source: AuditSource) -> _SourcePass:
    """One source's effect lines, block by block; a block Arrow cannot read (or a type that changes
    between blocks) leaves the whole source to the JSON path."""
    import pyarrow as pa
    from pyarrow import json as pa_json

    doc = source.document
    given = doc.get("pending", 0) if isinstance(doc, dict) else None
    pending = given if type(given) is int else -1
    # "effects" in the document: never written so by the store, but a hand-made file could be
    plain = source.effects_at is not None and pending >= 0 and "effects" not in doc
    chunks: list[ColumnParts] = []
    work: list[_WorkParts] | None = []
    blocks = 0
    try:
        with pa.OSFile(str(source.path)) as fh:
            fh.seek(source.effects_at or 0)
            if source.effects_at is None or fh.tell() >= fh.size():
                batches: Any = []
            else:
                batches = pa_json.open_json(
                    fh,
                    read_options=pa_json.ReadOptions(block_size=BLOCK, use_threads=False),
                    parse_options=pa_json.ParseOptions(newlines_in_values=False),
                )
            for batch in batches:
                if plain:
                    cols = _batch_columns(batch)
                    if cols is None:
                        plain = False
                        chunks.clear()
                    else:
                        chunks.append(cols)
                if work is not None:
                    stamps = _batch_work(batch)
                    if stamps is None:
                        work = None
                    else:
                        work.append(stamps)
                if not plain and work is None:
                    break
                blocks += 1
                if blocks % 8 == 0:  # what each block's parse freed goes back now, not at the end
                    release_unused()
    except (pa.ArrowException, ValueError):
        return _SourcePass(None, None)
    if not plain:
        return _SourcePass(None, _join_work_parts(work))
    kept = columns_of(chunks) if chunks else columns_of([([], [], [], [], [], 0)])
    columns: ColumnParts = (kept.kind, kept.key, kept.value, kept.status, kept.id, pending)
    return _SourcePass(columns, _join_work_parts(work))


def _batch_columns(batch: pa.RecordBatch) -> ColumnParts | None:
    """A block's effect columns, or None if any effect in it is not plainly valid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(batch.schema.names)
    if not {"kind", "key", "id"} <= names:
        return None
    kind, key, id_ = batch.column("kind"), batch.column("key"), batch.column("id")
    if kind.type != pa.string() or key.type != pa.string() or kind.null_count or key.null_count:
        return None
    if id_.null_count or not (id_.type == pa.string() or id_.type == pa.int64()):
        return None
    if pc.any(pc.equal(kind, "")).as_py():
        return None
    rows = batch.num_rows
    value = arrow_value_texts(batch.column("value")) if "value" in names else pa.nulls(rows, pa.string())
    status = batch.column("status") if "status" in names else pa.nulls(rows, pa.string())
    if value is None or status.type not in (pa.string(), pa.null()):
        return None
    return (
        kind.dictionary_encode(),
        key,
        value,
        status.cast(pa.string()).dictionary_encode(),
        id_.cast(pa.string()),
        0,
    )


def _batch_work(batch: pa.RecordBatch) -> _WorkParts | None:
    """A block's work stamps (effects with ``accepted_ns``), or None if they are not integers."""
    import pyarrow as pa

    names = set(batch.schema.names)
    rows = batch.num_rows
    if "accepted_ns" not in names:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.bool_), empty
    cols: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = {}
    for field in ("accepted_ns", "finished_ns", "attempts"):
        column = batch.column(field) if field in names else pa.nulls(rows, pa.int64())
        if pa.types.is_null(column.type):
            column = pa.nulls(rows, pa.int64())
        if column.type != pa.int64():
            return None
        present = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        values = np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        cols[field] = (values, present)
    keep = cols["accepted_ns"][1]
    done = cols["finished_ns"][1][keep]
    return (
        cols["accepted_ns"][0][keep],
        np.where(done, cols["finished_ns"][0][keep], -1),
        done,
        cols["attempts"][0][keep],
    )


def _join_work_parts(parts: list[_WorkParts] | None) -> _WorkParts | None:
    if parts is None:
        return None
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.concatenate([empty, *(p[0] for p in parts)]),
        np.concatenate([empty, *(p[1] for p in parts)]),
        np.concatenate([np.zeros(0, dtype=np.bool_), *(p[2] for p in parts)]),
        np.concatenate([empty, *(p[3] for p in parts)]),
    )


def _joined_work(parts: list[_WorkParts]) -> WorkArrays:
    joined = _join_work_parts(parts)
    assert joined is not None
    return WorkArrays(accepted_ns=joined[0], finished_ns=joined[1], finished=joined[2], attempts=joined[3])
