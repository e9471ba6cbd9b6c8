"""An audit's effects and work stamps as columns: the shapes both audit readers hand over.

:class:`EffectColumns` (the reconcile's) and :class:`WorkArrays` (the operations view's), how
documents read as JSON become them (:func:`effect_columns`: checked by column, or judged by the
model), and how Arrow's value columns are read as the contract's text. The readers are
:mod:`harness.measure.audit_lines` (a trial's audit kept a line per effect) and
:mod:`harness.measure.audit_legacy` (older runs' one ``audit.json``); which one a trial needs is
:mod:`harness.measure.audit_columns`'s choice."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.measure.audit import norm_value, validate_audit
from harness.measure.columns import release_unused

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


ColumnParts = tuple[list[Any], list[Any], "list[Any] | pa.Array", list[Any], list[Any], int]


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


@dataclass(frozen=True, eq=False)
class WorkArrays:
    """The work-item stamps of every effect that has them (``accepted_ns`` not null), one array
    per field in audit order: run-clock ns, ``finished_ns`` -1 where null, ``attempts`` as given
    (0 where null; a missing or zero count reads as 1 downstream)."""

    accepted_ns: npt.NDArray[np.int64]
    finished_ns: npt.NDArray[np.int64]
    finished: npt.NDArray[np.bool_]
    attempts: npt.NDArray[np.signedinteger[Any]]  # int32 from the line layout


def arrow_value_texts(value: pa.Array) -> pa.Array | None:
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


#: One block of effects as the contract's plain columns: kind, key, value (normalised text), status, id.
PlainColumns = tuple["pa.Array", "pa.Array", "pa.Array", "pa.Array", "pa.Array"]


def plain_columns(column: Callable[[str], pa.Array], names: set[str], rows: int) -> PlainColumns | None:
    """The columns of ``rows`` effects parsed by Arrow (``column(name)`` for each of ``names``), or
    None if any effect is not plainly valid: a required field missing or null, an empty kind, an id
    neither text nor integer, a value or status of a type the contract refuses. Its column types
    stand for the schema check; what is not plain goes through the model, which says what is wrong.
    Both audit layouts' readers judge their blocks so."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not {"kind", "key", "id"} <= names:
        return None
    kind, key, id_ = column("kind"), column("key"), column("id")
    if kind.type != pa.string() or key.type != pa.string() or kind.null_count or key.null_count:
        return None
    if id_.null_count or not (id_.type == pa.string() or id_.type == pa.int64()):
        return None
    if pc.any(pc.equal(kind, "")).as_py():
        return None
    value = arrow_value_texts(column("value")) if "value" in names else pa.nulls(rows, pa.string())
    status = column("status") if "status" in names else pa.nulls(rows, pa.string())
    if value is None or status.type not in (pa.string(), pa.null()):
        return None
    return kind, key, value, status.cast(pa.string()), id_.cast(pa.string())


def columns_of(parts: list[ColumnParts]) -> EffectColumns:
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


def _checked_columns(doc: object) -> ColumnParts | None:
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
