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

import contextlib
import functools
import io
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
    #: None once the samples were made of it (:func:`harness.measure.samples.load_samples_counted`,
    #: its only reader): they hold the start times, as seconds; 8 bytes a row not kept twice
    start_ns: NDArray[np.int64] | None
    end_ns: NDArray[np.int64]
    outcome: pa.Array
    code: NDArray[np.int8]
    status: NDArray[Any]  # int16 while every status fits (HTTP codes), else int64
    error: pa.Array
    value: pa.Array

    def __len__(self) -> int:
        return int(self.end_ns.size)

    def release_start(self) -> None:
        """Let ``start_ns`` go (see the field): the samples made of it hold the start times."""
        object.__setattr__(self, "start_ns", None)


FileIdentity = tuple[str, int, int, int, int]
_cache: dict[tuple[FileIdentity, ...], LedgerColumns] = {}


def read_ledger(paths: list[Path], *, whole: bool = False) -> LedgerColumns:
    """The shards' columns; the last result is kept while its files are unchanged. ``whole``:
    read anew if the kept one has let its start times go."""
    ident = tuple(file_identity(p) for p in paths)
    hit = _cache.get(ident)
    if hit is not None and not (whole and hit.start_ns is None):
        return hit
    _cache.clear()  # one trial at a time: never hold two ledgers, not even while reading the next
    columns = _read(paths)
    _cache[ident] = columns
    return columns


def file_identity(path: Path) -> FileIdentity:
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

    use_system_allocator()

    tables = [t for t in (_read_shard(p) for p in paths) if t is not None and t.num_rows]
    held = [pa.concat_tables(tables) if tables else _empty_table()]
    tables.clear()  # the blocks are now referenced by `held` alone: each column is freed once joined
    return _columns(held)


#: Columns of few distinct texts, held as codes into their distinct values (a tenth of the bytes).
CODED = ("op", "outcome", "error")
#: Bytes of a shard parsed at a time: with one thread, what the reader holds beside the columns.
BLOCK = 1 << 20


def _types() -> dict[str, Any]:
    import pyarrow as pa

    coded = pa.dictionary(pa.int32(), pa.string())
    return {
        "op": coded,
        "key": pa.string(),
        "start_ns": pa.int64(),
        "end_ns": pa.int64(),
        "outcome": coded,
        "status": pa.int64(),
        "error": coded,
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
    end = _last_newline(path, size)
    if end < 0:
        return None  # not even a complete header line
    read = csv.ReadOptions(column_names=list(COLUMNS), skip_rows=1, use_threads=False, block_size=BLOCK)
    parse = csv.ParseOptions(newlines_in_values=True, invalid_row_handler=_skip)
    convert = csv.ConvertOptions(
        column_types=_types(),
        include_columns=list(READ),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    with path.open("rb") as fh:  # read as a stream up to the last complete line: never held whole
        head = pa.PythonFile(_Head(fh, end + 1), mode="r")
        return csv.read_csv(head, read_options=read, parse_options=parse, convert_options=convert)


class _Head(io.RawIOBase):
    """The first ``limit`` bytes of a file, as a stream (the shard without its torn last line)."""

    def __init__(self, fh: io.BufferedReader, limit: int) -> None:
        self.fh, self.left = fh, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self.left]
        n = self.fh.readinto(view) or 0
        self.left -= n
        return n


def _last_newline(path: Path, size: int) -> int:
    """Offset of the file's last ``"\\n"``, looking back from the end in steps."""
    step = 1 << 16
    hi = size
    with path.open("rb") as fh:
        while hi > 0:
            lo = max(0, hi - step)
            fh.seek(lo)
            at = fh.read(hi - lo).rfind(b"\n")
            if at >= 0:
                return lo + at
            hi = lo
    return -1


def use_system_allocator() -> None:
    """Arrow's memory from the C library's allocator instead of the one pyarrow bundles
    (mimalloc), which keeps freed blocks for reuse: on a 1e6-write orders run the analysis peaks
    ~120 MiB lower and spends less CPU (benchmarks/README.md). Set once, before the first read.

    And the C library told to map every block of 256 KiB or more on its own and give it back when
    freed: glibc otherwise raises that bar to the largest block freed so far (up to 32 MiB), after
    which the analysis's many short-lived arrays of a few MiB come from its heap and their memory
    stays with the process (~55 MiB of a 1e6-write run's peak)."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
        _fix_mmap_threshold(MMAP_THRESHOLD)


#: Blocks at least this large are mapped on their own and unmapped when freed (glibc's default
#: starting value; fixed, so it no longer rises).
MMAP_THRESHOLD = 256 << 10


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def _fix_mmap_threshold(size: int) -> None:
    # M_MMAP_THRESHOLD; not glibc (or no C library found): its own policy stands
    with contextlib.suppress(AttributeError):
        _libc().mallopt(-3, size)


def _trim_heap() -> None:
    """Give the heap's free pages back (glibc's ``malloc_trim``): the blocks below the mmap
    threshold that a phase freed, ~30 MiB after a 1e6-write run's audit pass."""
    with contextlib.suppress(AttributeError):
        _libc().malloc_trim(0)


def release_unused() -> None:
    """Hand the memory Arrow freed back to the system now: its allocator keeps freed blocks for
    reuse, and a column joined from its blocks would otherwise cost the process twice its size."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    _trim_heap()


def _narrow_codes(column: pa.Array) -> pa.Array:
    """A coded column's codes as bytes while it has few distinct values (ops, outcomes, errors)."""
    import pyarrow as pa

    if len(column.dictionary) > 127:
        return column
    return pa.DictionaryArray.from_arrays(column.indices.cast(pa.int8()), column.dictionary)


def _columns(held: list[pa.Table]) -> LedgerColumns:
    """One contiguous array per column, joining the reader's blocks column by column and dropping
    each column's blocks as soon as it is joined (never the whole ledger twice in memory). The
    table is handed over in ``held``, the only reference to it, which this empties."""
    import pyarrow.compute as pc

    table = held.pop()
    joined: dict[str, Any] = {}
    for name in READ:
        col = table.column(name)
        if name in CODED:  # each block coded its own way: one set of distinct values for all
            col = col.unify_dictionaries()
        joined[name] = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
        if name in CODED:
            joined[name] = _narrow_codes(joined[name])
        del col
        table = table.drop_columns([name])
        release_unused()

    def ints(name: str) -> NDArray[np.int64]:
        return np.asarray(joined.pop(name).to_numpy(zero_copy_only=False), dtype=np.int64)

    status = ints("status")
    narrow = np.int16 if not status.size or (status.min() >= -(2**15) and status.max() < 2**15) else None

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
        status=status if narrow is None else status.astype(narrow),  # HTTP codes: 2 bytes, not 8
        error=joined["error"],
        value=joined["value"],
    )
