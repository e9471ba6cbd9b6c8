"""The ledger's idempotency keys as an index that holds no text: find an audit's keys among them.

The reconcile must tell, for each of millions of effects, which ledgered write its key belongs to.
Arrow's set lookups (``index_in``, ``dictionary_encode``) build a hash table of the ledger's keys
*as text* on every call: ~100 MiB at a million keys, and built anew for each block of an audit.
:class:`KeyIndex` keeps instead a 64-bit hash per ledger row, sorted, and the row each came from
(12 - 16 bytes a row), built once per trial; a key is looked up by its hash with
:func:`numpy.searchsorted` and then **confirmed by comparing its text** with the ledger row found.
A hash only proposes: two keys that share a hash are told apart by their text (the slow path), so
the index is exact, never probably right - a lost write can never hide behind a collision.

A key's code is the first ledger row that carries it (rows in ``read_records`` order): one code per
distinct key, and the key's text is ``ledger.key[code]``. The empty key (a request with no
idempotency key) is never found: such rows have code -1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pyarrow as pa

Hasher = Callable[["pa.Array"], NDArray[np.uint64]]
#: Ledger rows: int32 while the ledger has fewer than 2**31 rows (half the memory), else int64.
Rows = NDArray[np.signedinteger[Any]]

_SEED = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser, in place: every input bit moves every output bit."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def hash64(keys: pa.Array) -> NDArray[np.uint64]:
    """A 64-bit hash of each string of ``keys`` (nulls hash as the empty string), 8 bytes at a time
    straight from Arrow's buffers: no Python object per key."""
    import pyarrow as pa

    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    if keys.type not in (pa.string(), pa.large_string()):
        keys = keys.cast(pa.string())
    wide = keys.type == pa.large_string()
    buffers = keys.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if wide else np.int32)[
        keys.offset : keys.offset + n + 1
    ]
    start = offsets[:-1].astype(np.int64)
    length = np.diff(offsets).astype(np.int64)
    if keys.null_count:
        length[~np.asarray(keys.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)] = 0
    raw = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data = np.zeros(raw.size + 8, dtype=np.uint8)  # room to read 8 bytes from the last byte on
    data[: raw.size] = raw
    # every 8-byte window of the text, one element per byte offset (an unaligned, overlapping view)
    windows = np.ndarray(shape=(raw.size + 1,), dtype="<u8", buffer=data, strides=(1,))
    h = length.astype(np.uint64) ^ _SEED
    rows = np.arange(n, dtype=np.int64)
    at = 0
    while rows.size:
        left = length[rows] - at
        word = windows[start[rows] + at]
        short = left < 8
        if short.any():  # the key's last bytes: keep only its own
            word[short] &= (np.uint64(1) << (left[short].astype(np.uint64) * np.uint64(8))) - np.uint64(1)
        h[rows] = _mix(h[rows] ^ word)
        at += 8
        rows = rows[length[rows] > at]
    return _mix(h)


class KeyIndex:
    """Exact lookup of keys among a ledger's keys (see the module docstring)."""

    def __init__(self, keys: pa.Array, hasher: Hasher = hash64) -> None:
        import pyarrow.compute as pc

        self.keys = keys
        self._hash = hasher
        n = len(keys)
        self.row_type = np.int32 if n < 2**31 - 1 else np.int64
        hashes = hasher(keys)
        keyed = np.flatnonzero(np.asarray(pc.not_equal(keys, "").fill_null(False), dtype=np.bool_))
        order = keyed[np.argsort(hashes[keyed], kind="stable")]  # equal hashes: lowest row first
        self._sorted = hashes[order]
        self._row = order.astype(self.row_type)
        del hashes, order, keyed

    def __len__(self) -> int:
        return len(self.keys)

    def rows_of(self, probe: pa.Array) -> NDArray[np.int64]:
        """For each key of ``probe``: the first ledger row with that key, -1 if the ledger has none."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = np.full(len(probe), -1, dtype=np.int64)
        if not len(probe) or not self._sorted.size:
            return out
        hashes = self._hash(probe)
        # the probes in hash order: the searches and lookups then walk the index forwards (a few
        # times faster on a large ledger than jumping about it), their answers put back after
        order = np.argsort(hashes)
        ordered = hashes[order]
        pos = np.searchsorted(self._sorted, ordered)
        pos[pos == self._sorted.size] = 0
        found = self._sorted[pos] == ordered
        candidate = np.full(len(probe), -1, dtype=np.int64)
        candidate[order[found]] = self._row[pos[found]]
        del order, ordered, pos, found
        hit = np.flatnonzero(candidate >= 0)
        if not hit.size:
            return out
        row = candidate[hit]
        same = np.asarray(
            pc.equal(self.keys.take(pa.array(row)), probe.take(pa.array(hit))).fill_null(False),
            dtype=np.bool_,
        )
        out[hit[same]] = row[same]
        for i in hit[~same].tolist():  # a hash two different keys share: find the key by its text
            out[i] = self._row_among(hashes[i], probe[i])
        return out

    def _row_among(self, h: np.uint64, key: pa.Scalar) -> int:
        import pyarrow as pa
        import pyarrow.compute as pc

        lo = int(np.searchsorted(self._sorted, h, side="left"))
        hi = int(np.searchsorted(self._sorted, h, side="right"))
        rows = self._row[lo:hi]  # ascending: stable sort of rows by hash
        at = pc.index_in(
            pa.array([key.as_py()], type=self.keys.type), value_set=self.keys.take(pa.array(rows))
        )
        found = at[0].as_py()
        return -1 if found is None else int(rows[found])

    def codes(self) -> Rows:
        """Each ledger row's key as its code (the first row with that key); -1 for the empty key."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(self.keys)
        out: Rows = np.full(n, -1, dtype=self.row_type)
        if not self._sorted.size:
            return out
        starts = np.flatnonzero(np.concatenate(([True], self._sorted[1:] != self._sorted[:-1])))
        first = np.repeat(self._row[starts], np.diff(np.append(starts, self._sorted.size)))
        out[self._row] = first
        del first, starts
        # confirm by text: a row whose hash run began at another row must carry that row's key
        # (else two keys share a hash: it is looked up by its text)
        repeat = np.flatnonzero(out != np.arange(n, dtype=self.row_type))
        repeat = repeat[out[repeat] >= 0]
        if repeat.size:
            same = np.asarray(
                pc.equal(self.keys.take(pa.array(repeat)), self.keys.take(pa.array(out[repeat]))).fill_null(
                    False
                ),
                dtype=np.bool_,
            )
            for r in repeat[~same].tolist():
                out[r] = self._row_among(self._hashes_of_row(r), self.keys[r])
        return out

    def _hashes_of_row(self, r: int) -> np.uint64:
        return np.uint64(self._hash(self.keys.slice(r, 1))[0])


_indexes: dict[int, tuple[object, KeyIndex]] = {}


def key_index_of(keys: pa.Array) -> KeyIndex:
    """The index of a ledger's key column, kept for the next caller (one ledger at a time)."""
    held = _indexes.get(id(keys))
    if held is not None and held[0] is keys:
        return held[1]
    _indexes.clear()
    index = KeyIndex(keys)
    _indexes[id(keys)] = (keys, index)
    return index


def forget_key_index() -> None:
    """Let the kept index go (the trial's reconcile is done)."""
    _indexes.clear()
