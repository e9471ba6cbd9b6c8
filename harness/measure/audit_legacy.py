"""Older runs' audit: one ``trial-N/audit.json`` (``{service: document}``), parsed whole by
Arrow's JSON reader into a one-row table, once per trial (the operations view reads it first and
keeps it, the reconcile takes it and releases it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.measure.audit_arrays import (
    ColumnParts,
    EffectColumns,
    WorkArrays,
    columns_of,
    effect_columns,
    plain_columns,
)
from harness.measure.columns import FileIdentity, file_identity

if TYPE_CHECKING:
    import pyarrow as pa


def read_legacy_work(path: Path) -> WorkArrays | None:
    """The work stamps of ``audit.json``; None where Arrow cannot hold them as integer columns."""
    table = _peek_table(path)
    return None if table is None or table.num_rows != 1 else _work_arrays(table)


def read_legacy_effects(path: Path, endpoint_of: Mapping[str, str]) -> EffectColumns:
    """The older layout: one ``audit.json`` (``{service: document}``) parsed whole."""
    table = _take_table(path)
    columns = None if table is None or table.num_rows != 1 else _arrow_columns(table)
    if columns is not None:
        return columns
    docs = json.loads(path.read_text(encoding="utf-8"))
    return effect_columns(docs, endpoint_of)


_tables: dict[FileIdentity, pa.Table | None] = {}


def _parse_table(path: Path) -> pa.Table | None:
    """The audit file as a one-row Arrow table (a column per source), None if Arrow cannot read it."""
    import pyarrow as pa
    from pyarrow import json as pa_json

    size = path.stat().st_size
    try:
        return pa_json.read_json(
            str(path),
            read_options=pa_json.ReadOptions(block_size=max(size + 1, 1 << 20)),
            parse_options=pa_json.ParseOptions(newlines_in_values=True),
        )
    except (pa.ArrowException, ValueError):
        return None


def _peek_table(path: Path) -> pa.Table | None:
    """The parsed audit, kept for the trial's next reader (the reconcile takes it, see below)."""
    ident = file_identity(path)
    if ident not in _tables:
        _tables.clear()  # one audit at a time
        _tables[ident] = _parse_table(path)
    return _tables[ident]


def _take_table(path: Path) -> pa.Table | None:
    """The parsed audit, released from the cache: the reconcile is the last reader of a trial's
    audit (the operations view reads its work items first), so the table is not held after it."""
    hit = _tables.pop(file_identity(path), _MISSING)
    _tables.clear()
    return _parse_table(path) if hit is _MISSING else hit


_MISSING: Any = object()


def _work_arrays(table: pa.Table) -> WorkArrays | None:
    import pyarrow as pa

    acc: list[Any] = []
    fin: list[Any] = []
    att: list[Any] = []
    for name in table.column_names:
        doc = table.column(name).combine_chunks()
        if not pa.types.is_struct(doc.type):
            continue  # not an audit document: it holds no work items
        fields = {doc.type.field(i).name for i in range(doc.type.num_fields)}
        if "effects" not in fields or doc.null_count:
            continue
        listed = doc.field("effects")
        if pa.types.is_null(listed.type):
            continue
        if not pa.types.is_list(listed.type):
            return None
        effects = listed.flatten()
        if not pa.types.is_struct(effects.type):
            if len(effects) and not pa.types.is_null(effects.type):
                return None  # effects of mixed shapes: the JSON path judges each
            continue
        got = {effects.type.field(i).name for i in range(effects.type.num_fields)}
        if "accepted_ns" not in got:
            continue
        valid = np.asarray(effects.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        cols: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = {}
        for field in ("accepted_ns", "finished_ns", "attempts"):
            column = effects.field(field) if field in got else pa.nulls(len(effects))
            if pa.types.is_null(column.type):
                column = pa.nulls(len(effects), pa.int64())
            if column.type != pa.int64():
                return None
            present = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
            values = np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            cols[field] = (values, present & valid)
        keep = cols["accepted_ns"][1]
        acc.append(cols["accepted_ns"][0][keep])
        done = cols["finished_ns"][1][keep]
        fin.append((np.where(done, cols["finished_ns"][0][keep], -1), done))
        att.append(cols["attempts"][0][keep])
    empty = np.zeros(0, dtype=np.int64)
    return WorkArrays(
        accepted_ns=np.concatenate([empty, *acc]),
        finished_ns=np.concatenate([empty, *(f[0] for f in fin)]),
        finished=np.concatenate([np.zeros(0, dtype=np.bool_), *(f[1] for f in fin)]),
        attempts=np.concatenate([empty, *att]),
    )


def _arrow_columns(table: pa.Table) -> EffectColumns | None:
    """The effects of a one-row Arrow table of audit documents, or None if any is not plainly valid."""
    import pyarrow as pa

    parts: list[ColumnParts] = []
    pending = 0
    for name in table.column_names:
        doc = table.column(name).combine_chunks()
        if not pa.types.is_struct(doc.type) or doc.null_count:
            return None
        fields = {doc.type.field(i).name: i for i in range(doc.type.num_fields)}
        if "effects" not in fields:
            return None
        if "pending" in fields:
            p = doc.field("pending")
            if not pa.types.is_integer(p.type) or p.null_count or p[0].as_py() < 0:
                return None
            pending += int(p[0].as_py())
        listed = doc.field("effects")
        if not pa.types.is_list(listed.type) or listed.null_count:
            return None
        effects = listed.flatten()
        if not len(effects):  # an empty list: nothing to check but its pending count
            parts.append(([], [], [], [], [], 0))
            continue
        if not pa.types.is_struct(effects.type) or effects.null_count:
            return None
        got = {effects.type.field(i).name for i in range(effects.type.num_fields)}
        plain = plain_columns(effects.field, got, len(effects))
        if plain is None:
            return None
        parts.append((*plain, 0))
    if not parts:
        return None
    out = columns_of(parts)
    return EffectColumns(out.kind, out.key, out.value, out.status, out.id, pending)
