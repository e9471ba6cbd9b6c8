"""The ledger as columns, read once per trial with Arrow's CSV reader and shared by every figure.

A run can hold tens of millions of requests. The samples (health, recovery), the outcome counts,
the failure breakdown and the consistency reconcile all read the same shards, so they share one
read: :func:`read_ledger` parses the columns they need (``op``, ``key``, ``start_ns``,
``end_ns``, ``outcome``, ``status``, ``error``, ``value``; never ``id``, ``latency_ms`` or
``attempt``) into Arrow and numpy arrays, with no Python object per row, and keeps the last result
for the same files (identified by path, size and modification time), so the consumers of one
trial's analysis pay for one parse.

It reads exactly the rows :func:`harness.load.ledger.read_records` yields: a shard's first line is
its header whatever it says, a torn last line (a crash mid-write, no ``"\\n"`` yet) is dropped,
rows with the wrong number of fields are skipped, quoted fields may hold commas and newlines.
A malformed number in a column that is read raises ``ValueError`` (Arrow's ``ArrowInvalid`` is
one): a ledger we cannot read must not silently become a healthier-looking one.

Arrow (pyarrow) rather than polars: its CSV reader takes an invalid-row handler, which is how the
wrong-length rows are skipped exactly as before, reads from a zero-copy slice of a memory map
(how the torn line is left out without copying the file), and hands numeric columns to numpy
without a copy; its hash kernels (``dictionary_encode``, ``index_in``, ``is_in``) do the key
matching of the reconcile. pyarrow is imported only when a ledger is read.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.load.ledger import COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

#: The columns any figure needs; the others are never converted.
READ = ("op", "key", "start_ns", "end_ns", "outcome", "status", "error", "value")

#: Outcome codes: 0 ok (acknowledged), 1 fail (definite), 2 anything else (indeterminate).
OK, FAIL, OTHER = 0, 1, 2


@dataclass(frozen=True, eq=False)
class LedgerColumns:
    """Every complete row of a trial's shards, in ``read_records`` order (shard by shard).

    Integer columns are numpy arrays; text columns are Arrow arrays (one chunk each).
    ``outcome`` is the raw text (``ok``/``fail``/``indeterminate``, or whatever a row says);
    ``code`` is :data:`OK`, :data:`FAIL` or :data:`OTHER` for it.
    """

    op: pa.Array
    key: pa.Array
    start_ns: NDArray[np.int64]
    end_ns: NDArray[np.int64]
    outcome: pa.Array
    code: NDArray[np.int8]
    status: NDArray[np.int64]
    error: pa.Array
    value: pa.Array

    def __len__(self) -> int:
        return int(self.start_ns.size)


_Identity = tuple[str, int, int, int, int]
_cache: dict[tuple[_Identity, ...], LedgerColumns] = {}


def read_ledger(paths: list[Path]) -> LedgerColumns:
    """The shards' columns; the last result is kept while its files are unchanged."""
    ident = tuple(_identity(p) for p in paths)
    hit = _cache.get(ident)
    if hit is not None:
        return hit
    columns = _read(paths)
    _cache.clear()  # one trial at a time: never hold two ledgers
    _cache[ident] = columns
    return columns


def _identity(path: Path) -> _Identity:
    """Path, inode, size, modification time and a checksum of the last 64 KiB: a shard rewritten
    in place within one tick of the file system's clock still reads anew (the whole of a small one
    is checksummed, and a growing one changes at its end)."""
    with path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        fh.seek(max(0, st.st_size - (1 << 16)))
        tail = zlib.crc32(fh.read())
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns, tail)


def _read(paths: list[Path]) -> LedgerColumns:
    import pyarrow as pa

    tables = [t for t in (_read_shard(p) for p in paths) if t is not None and t.num_rows]
    table = pa.concat_tables(tables) if tables else _empty_table()
    tables.clear()  # the blocks are now referenced by `table` alone: each column is freed once joined
    return _columns(table)


def _types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "op": pa.string(),
        "key": pa.string(),
        "start_ns": pa.int64(),
        "end_ns": pa.int64(),
        "outcome": pa.string(),
        "status": pa.int64(),
        "error": pa.string(),
        "value": pa.string(),
    }


def _empty_table() -> pa.Table:
    import pyarrow as pa

    types = _types()
    return pa.table({name: pa.array([], type=types[name]) for name in READ})


def _skip(_row: Any) -> str:
    """A row with the wrong number of fields: ``read_records`` skips it, and so do we."""
    return "skip"


def _read_shard(path: Path) -> pa.Table | None:
    import pyarrow as pa
    from pyarrow import csv

    size = path.stat().st_size
    if size == 0:
        return None
    with pa.memory_map(str(path)) as source:
        buf = source.read_buffer()
    view = memoryview(buf)
    end = _last_newline(view)
    if end < 0:
        return None  # not even a complete header line
    data = buf.slice(0, end + 1)
    read = csv.ReadOptions(column_names=list(COLUMNS), skip_rows=1, use_threads=True, block_size=1 << 24)
    parse = csv.ParseOptions(newlines_in_values=True, invalid_row_handler=_skip)
    convert = csv.ConvertOptions(
        column_types=_types(),
        include_columns=list(READ),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    return csv.read_csv(
        pa.BufferReader(data), read_options=read, parse_options=parse, convert_options=convert
    )


def _last_newline(view: memoryview) -> int:
    """Offset of the file's last ``"\\n"``, looking back from the end in steps (no copy)."""
    size = len(view)
    step = 1 << 16
    hi = size
    while hi > 0:
        lo = max(0, hi - step)
        at = bytes(view[lo:hi]).rfind(b"\n")
        if at >= 0:
            return lo + at
        hi = lo
    return -1


def _columns(table: pa.Table) -> LedgerColumns:
    """One contiguous array per column, joining the reader's blocks column by column and dropping
    each column's blocks as soon as it is joined (never the whole ledger twice in memory)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    joined: dict[str, Any] = {}
    for name in READ:
        col = table.column(name)
        joined[name] = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
        del col
        table = table.drop_columns([name])

    def ints(name: str) -> NDArray[np.int64]:
        return np.asarray(joined.pop(name).to_numpy(zero_copy_only=False), dtype=np.int64)

    outcome = joined["outcome"]
    code = np.full(len(outcome), OTHER, dtype=np.int8)
    if len(outcome):
        code[np.asarray(pc.equal(outcome, "ok").to_numpy(zero_copy_only=False), dtype=bool)] = OK
        code[np.asarray(pc.equal(outcome, "fail").to_numpy(zero_copy_only=False), dtype=bool)] = FAIL
    return LedgerColumns(
        op=joined["op"],
        key=joined["key"],
        start_ns=ints("start_ns"),
        end_ns=ints("end_ns"),
        outcome=outcome,
        code=code,
        status=ints("status"),
        error=joined["error"],
        value=joined["value"],
    )
