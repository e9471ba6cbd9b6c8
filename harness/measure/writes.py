"""The ledger's writes, one per idempotency key, judged by what their client was told.

An op is *acknowledged* when any attempt under its key got a success answer, *definitely failed*
when every attempt failed definitely, *indeterminate* otherwise (DESIGN.md, binding); what the
client asked to write is the first value any attempt sent. Counted with numpy over the key codes of
the trial's key index (:mod:`harness.measure.key_index`), no Python object per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.measure.columns import FAIL, OK, LedgerColumns
from harness.measure.key_index import KeyIndex

if TYPE_CHECKING:
    import pyarrow as pa


def _bools(arr: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    """An Arrow boolean result as numpy, null as False."""
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


@dataclass(frozen=True, eq=False)
class Writes:
    """The write ops, one per distinct key: ``rows[i]`` (the key's first ledger row) with its
    judgement."""

    rows: NDArray[Any]
    acknowledged: NDArray[np.bool_]
    definite: NDArray[np.bool_]
    asked: pa.Array  # the first non-empty value any attempt sent, "" if none


def judge_writes(
    ledger: LedgerColumns, index: KeyIndex, write_ops: Iterable[str]
) -> tuple[Writes, NDArray[Any]]:
    """Each write key's outcome over all its attempts, and for each key code (ledger row) its
    write's slot in ``_Writes`` (-1: the key has no write)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ledger)
    codes = index.codes()
    ops = pa.array(sorted(set(write_ops)), type=pa.string())
    write_row = _bools(pc.is_in(ledger.op, value_set=ops)) & (codes >= 0)
    rows, idx, _ = _unique(codes[write_row], max(n, 1))
    rows = rows.astype(index.row_type)  # the write keys' first rows: int32 while the ledger allows
    del codes
    slot_of_row = np.full(n, -1, dtype=index.row_type)
    slot_of_row[rows] = np.arange(rows.size)
    k = rows.size
    code = ledger.code[write_row]
    acknowledged = np.bincount(idx[code == OK], minlength=k) > 0
    definite = ~acknowledged & (np.bincount(idx[code == FAIL], minlength=k) == np.bincount(idx, minlength=k))
    del code
    value = ledger.value if bool(write_row.all()) else ledger.value.filter(pa.array(write_row))
    with_value = np.flatnonzero(_bools(pc.not_equal(value, "")))
    take = np.full(k, len(value), dtype=np.int64)
    np.minimum.at(take, idx[with_value], with_value)  # each key's first attempt that sent a value
    del with_value, idx
    asked = value.take(pa.array(take, mask=take == len(value))).fill_null("")
    return Writes(rows, acknowledged, definite, asked), slot_of_row


def _unique(gid: NDArray[Any], span: int) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.int64]]:
    """``np.unique(gid, return_inverse, return_counts)`` for codes in ``[0, span)``: by counting,
    not sorting, when the span is small beside the codes (no sort of millions); the inverse as
    int32 while it fits (half the bytes)."""
    if span > 4 * gid.size + 1024:
        uniq, back, size = np.unique(gid, return_inverse=True, return_counts=True)
        return uniq, back.reshape(-1), size
    counts = np.bincount(gid, minlength=span)
    present = counts > 0
    uniq = np.flatnonzero(present)
    size = counts[uniq]
    del counts
    rank: NDArray[Any] = np.cumsum(present, dtype=np.int32 if uniq.size < 2**31 else np.int64)
    del present
    rank -= 1
    inverse: NDArray[Any] = rank[gid]
    return uniq, inverse, size
