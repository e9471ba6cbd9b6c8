"""An audit's effects read by column (pyarrow), for the reconcile and the operations view.

Arrow parses each audit source's lines (:mod:`harness.measure.audit_store`) block by block, once
per trial; each block's string columns for the reconcile and the work items' stamps for the
operations view are kept, the rest of the block dropped, and no Python object is built per
effect, so the analysis holds the columns it needs and never the audit's text. Anything Arrow
cannot take plainly goes through :func:`harness.measure.audit.validate_audit`, so a malformed
audit reads exactly as it did. A run directory of the older layout (one ``audit.json``) is read
as one document, as before."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.measure.audit import norm_value, validate_audit
from harness.measure.audit_store import AUDIT_DIR, LEGACY_FILE, AuditSource, audit_sources, source_document
from harness.measure.columns import release_unused, use_system_allocator

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, eq=False)
class EffectColumns:
    """Every effect of every audit source as Arrow string columns, in audit order.

    ``value`` is normalised (:func:`norm_value`) and null where the target does not record it;
    ``status`` is null where it has none; ``id`` is text. ``pending`` is the sources' sum.
    """

    kind: pa.Array
    key: pa.Array
    value: pa.Array
    status: pa.Array
    id: pa.Array
    pending: int = 0

    def __len__(self) -> int:
        return len(self.kind)


_Columns = tuple[list[Any], list[Any], "list[Any] | pa.Array", list[Any], list[Any], int]


def effect_columns(docs: Mapping[str, object], endpoint_of: Mapping[str, str]) -> EffectColumns:
    """The audits (service -> document, as ``audit.json`` holds them) validated and as columns.

    A document is checked by column (the type of every field of every effect, in a few passes
    over lists) instead of one model per effect, which a million effects cannot afford; a
    document that is not plainly valid goes through :func:`validate_audit`, which raises the same
    :class:`AuditSchemaError` it always did (the first offending path), or accepts it.
    """
    parts = []
    for svc, doc in docs.items():
        cols = _checked_columns(doc)
        if cols is None:
            audit = validate_audit(doc, endpoint_of[svc])
            cols = (
                [e.kind for e in audit.effects],
                [e.key for e in audit.effects],
                [norm_value(e.value) for e in audit.effects],
                [e.status for e in audit.effects],
                [str(e.id) for e in audit.effects],
                audit.pending,
            )
        parts.append(cols)
    return columns_of(parts)


def read_effect_columns(trial_dir: Path, endpoint_of: Mapping[str, str]) -> EffectColumns:
    """:func:`effect_columns` of a trial's kept audit, parsed by Arrow's JSON reader when it can.

    Arrow parses the effects straight into columns (no Python object per effect). Its column types
    then stand for the schema check: every effect's ``kind``/``key``/``id``/``value``/``status`` of
    an accepted type, none of the required ones missing or null, no empty ``kind``, ``pending`` a
    whole number >= 0. Anything else (a type Arrow cannot hold in one column, a missing field, a
    type that changes between blocks) is read the way it always was: ``json.loads`` and
    :func:`effect_columns`, which raises the same :class:`AuditSchemaError` as before for a
    document that breaks the contract. The trial's parse is released here (the reconcile is its
    last reader)."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        return _read_legacy_effects(trial_dir / LEGACY_FILE, endpoint_of)
    parsed = _take_pass(trial_dir)
    parts: list[_Columns] = []
    for source, one in zip(parsed.sources, parsed.passes, strict=True):
        if one.columns is not None:
            parts.append(one.columns)
        else:
            parts.append(_columns_of_docs({source.service: source_document(source)}, endpoint_of))
    return columns_of(parts) if parts else columns_of([([], [], [], [], [], 0)])


def read_work_arrays(trial_dir: Path) -> WorkArrays | None:
    """The work items of a trial's kept audit as arrays, from the same Arrow parse as the
    reconcile's (:func:`read_effect_columns`), with no Python object per effect. None where Arrow
    cannot hold the stamps as integer columns: the caller then reads the documents as JSON."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        table = _peek_table(trial_dir / LEGACY_FILE)
        return None if table is None or table.num_rows != 1 else _work_arrays(table)
    parsed = _peek_pass(trial_dir)
    if any(one.work is None for one in parsed.passes):
        return None
    return _joined_work([one.work for one in parsed.passes if one.work is not None])


def _columns_of_docs(docs: Mapping[str, object], endpoint_of: Mapping[str, str]) -> _Columns:
    """The columns of documents read as JSON: checked by column, or judged by the model."""
    out = effect_columns(docs, endpoint_of)
    return (out.kind, out.key, out.value, out.status, out.id, out.pending)


def _read_legacy_effects(path: Path, endpoint_of: Mapping[str, str]) -> EffectColumns:
    """The older layout: one ``audit.json`` (``{service: document}``) parsed whole."""
    table = _take_table(path)
    columns = None if table is None or table.num_rows != 1 else _arrow_columns(table)
    if columns is not None:
        return columns
    docs = json.loads(path.read_text(encoding="utf-8"))
    return effect_columns(docs, endpoint_of)


_Identity = tuple[str, int, int, int]
_tables: dict[_Identity, pa.Table | None] = {}


def _identity(path: Path) -> _Identity:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


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
    ident = _identity(path)
    if ident not in _tables:
        _tables.clear()  # one audit at a time
        _tables[ident] = _parse_table(path)
    return _tables[ident]


def _take_table(path: Path) -> pa.Table | None:
    """The parsed audit, released from the cache: the reconcile is the last reader of a trial's
    audit (the operations view reads its work items first), so the table is not held after it."""
    hit = _tables.pop(_identity(path), _MISSING)
    _tables.clear()
    return _parse_table(path) if hit is _MISSING else hit


_MISSING: Any = object()


#: Bytes of effect lines Arrow parses at a time: the text held at once, whatever the audit's size.
BLOCK = 1 << 20
_WorkParts = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]


@dataclass(frozen=True, eq=False)
class _SourcePass:
    """One source's parse: its columns (None: not plainly valid, the JSON path judges it) and its
    work stamps (None: not integer columns, the JSON path reads them)."""

    columns: _Columns | None
    work: _WorkParts | None


@dataclass(frozen=True, eq=False)
class _TrialPass:
    sources: list[AuditSource]
    passes: list[_SourcePass]


_passes: dict[tuple[Any, ...], _TrialPass] = {}


def _pass_identity(trial_dir: Path) -> tuple[Any, ...]:
    return tuple(_identity(p) for p in sorted((trial_dir / AUDIT_DIR).glob("*.jsonl")))


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
    chunks: list[_Columns] = []
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
    columns: _Columns = (kept.kind, kept.key, kept.value, kept.status, kept.id, pending)
    return _SourcePass(columns, _join_work_parts(work))


def _batch_columns(batch: pa.RecordBatch) -> _Columns | None:
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
    value = _arrow_values(batch.column("value")) if "value" in names else pa.nulls(rows, pa.string())
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


@dataclass(frozen=True, eq=False)
class WorkArrays:
    """The work-item stamps of every effect that has them (``accepted_ns`` not null), one array
    per field in audit order: run-clock ns, ``finished_ns`` -1 where null, ``attempts`` as given
    (0 where null; a missing or zero count reads as 1 downstream)."""

    accepted_ns: npt.NDArray[np.int64]
    finished_ns: npt.NDArray[np.int64]
    finished: npt.NDArray[np.bool_]
    attempts: npt.NDArray[np.int64]


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
    import pyarrow.compute as pc

    parts: list[_Columns] = []
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
        if not {"kind", "key", "id"} <= got:
            return None
        kind, key, id_ = effects.field("kind"), effects.field("key"), effects.field("id")
        if kind.type != pa.string() or key.type != pa.string() or kind.null_count or key.null_count:
            return None
        if id_.null_count or not (id_.type == pa.string() or id_.type == pa.int64()):
            return None
        if pc.any(pc.equal(kind, "")).as_py():
            return None
        value = (
            _arrow_values(effects.field("value")) if "value" in got else pa.nulls(len(effects), pa.string())
        )
        status = effects.field("status") if "status" in got else pa.nulls(len(effects), pa.string())
        if value is None or status.type not in (pa.string(), pa.null()):
            return None
        parts.append((kind, key, value, status.cast(pa.string()), id_.cast(pa.string()), 0))
    if not parts:
        return None
    out = columns_of(parts)
    return EffectColumns(out.kind, out.key, out.value, out.status, out.id, pending)


def _arrow_values(value: pa.Array) -> pa.Array | None:
    """:func:`norm_value` of a value column, or None for a type the contract does not accept."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if value.type in (pa.string(), pa.null(), pa.int64()):
        return value.cast(pa.string())
    if value.type != pa.float64():
        return None  # true/false, lists, objects: the model says what is wrong
    numbers = np.asarray(value.to_numpy(zero_copy_only=False), dtype=np.float64)
    valid = np.asarray(value.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    whole = valid & np.isfinite(numbers) & (numbers == np.trunc(numbers))
    if np.any(whole & (np.abs(numbers) >= 2.0**53)):
        return None  # a big integer read as a float may have lost digits: Python keeps it exact
    texts = pa.array(np.where(whole, numbers, 0).astype(np.int64)).cast(pa.string())
    odd = np.flatnonzero(valid & ~whole)
    if odd.size:  # not whole: Python's own text for each, as norm_value gives it
        out = texts.to_pylist()
        for i in odd.tolist():
            out[i] = norm_value(float(numbers[i]))
        texts = pa.array(out, type=pa.string())
    return pc.if_else(pa.array(valid), texts, pa.scalar(None, pa.string()))


def columns_of(parts: list[_Columns]) -> EffectColumns:
    """Arrow columns from per-source lists (kind, key, value text or None, status, id, pending).

    ``kind`` and ``status`` (few distinct texts) are held as codes into their distinct values."""
    import pyarrow as pa

    def col(i: int, coded: bool = False) -> pa.Array:
        chunks: list[pa.Array] = [
            p[i] if isinstance(p[i], pa.Array) else pa.array(p[i], type=pa.string()) for p in parts
        ]
        if not coded:
            return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())
        codes = [c if pa.types.is_dictionary(c.type) else c.dictionary_encode() for c in chunks]
        if not codes:
            return pa.array([], type=pa.string()).dictionary_encode()
        return pa.chunked_array(codes).unify_dictionaries().combine_chunks()

    out = EffectColumns(
        kind=col(0, coded=True),
        key=col(1),
        value=col(2),
        status=col(3, coded=True),
        id=col(4),
        pending=sum(p[5] for p in parts),
    )
    release_unused()
    return out


def _checked_columns(doc: object) -> _Columns | None:
    """The columns of a document that is plainly valid, else None (let the model judge it)."""
    if type(doc) is not dict:
        return None
    effects, pending = doc.get("effects"), doc.get("pending", 0)
    if type(effects) is not list or type(pending) is not int or pending < 0:
        return None
    if not set(map(type, effects)) <= {dict}:
        return None
    kinds = [e.get("kind") for e in effects]
    keys = [e.get("key") for e in effects]
    ids = [e.get("id") for e in effects]
    values = [e.get("value") for e in effects]
    statuses = [e.get("status") for e in effects]
    if not set(map(type, kinds)) <= {str} or "" in kinds or not set(map(type, keys)) <= {str}:
        return None
    id_types, value_types = set(map(type, ids)), set(map(type, values))
    if not id_types <= {str, int} or not value_types <= {str, int, float, type(None)}:
        return None
    if not set(map(type, statuses)) <= {str, type(None)}:
        return None
    id_texts = ids if id_types <= {str} else [str(i) for i in ids]
    return kinds, keys, _value_texts(values, value_types), statuses, id_texts, pending


def _value_texts(values: list[Any], types: set[type]) -> list[Any] | pa.Array:
    """:func:`norm_value` of each value; whole integer columns are converted by Arrow at once."""
    if types <= {str, type(None)}:
        return values
    if types <= {int, type(None)}:
        import pyarrow as pa

        try:
            return pa.array(values, type=pa.int64()).cast(pa.string())
        except (OverflowError, pa.ArrowException):
            pass  # beyond 64 bits: Python's own str below
    return [norm_value(v) for v in values]
