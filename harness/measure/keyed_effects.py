"""An audit's effects as the reconcile holds them: codes, not text.

A million writes leave two million effects; held as text (kind, key, value, status, id) they cost
the analysis more than the ledger itself. :class:`KeyedEffects` keeps per effect only what the
reconcile counts with: its kind and status as codes into short word lists, its key as the ledger
row that carries it (:class:`~harness.measure.key_index.KeyIndex`, exact), and its value as text (it
is compared with what the client sent). The few effects the report quotes are described again on
demand (``describe``): re-read from the kept audit, or taken from the columns they came from.
Keys the ledger never saw (the unledgered figure) are kept as text: there should be none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.measure.key_index import KeyIndex, Rows

if TYPE_CHECKING:
    import pyarrow as pa

    from harness.measure.audit_arrays import EffectColumns

#: What the report quotes of one effect: its id, value (normalised, None: not recorded), status.
EffectText = tuple[str, "str | None", "str | None"]
Describe = Callable[[Sequence[int]], list[EffectText]]


class Vocabulary:
    """Words (kinds, statuses) coded in the order first met, shared by every block of a trial."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self._code: dict[str, int] = {}

    def codes(self, column: pa.Array) -> NDArray[np.int32]:
        """Each text's code; -1 for null."""
        import pyarrow as pa

        if len(column) == 0:
            return np.zeros(0, dtype=np.int32)
        encoded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
        mapping = np.array([self._add(str(w)) for w in encoded.dictionary.to_pylist()] + [-1], dtype=np.int32)
        at = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        return mapping[at]  # -1 picks the appended -1

    def _add(self, word: str) -> int:
        code = self._code.get(word)
        if code is None:
            code = self._code[word] = len(self.words)
            self.words.append(word)
        return code


@dataclass(frozen=True, eq=False)
class KeyedEffects:
    """Every effect of every audit source, in audit order (see the module docstring)."""

    kind: NDArray[Any]  # code into ``kinds`` (int8 while few)
    kinds: list[str]
    row: Rows  # the key's code: the first ledger row with it; -1 the ledger never saw it
    unseen: pa.Array  # the keys of the effects whose row is -1, in effect order
    value: pa.Array  # normalised text; null where the target does not record it
    status: NDArray[Any]  # code into ``statuses``; -1 where it has none
    statuses: list[str]
    pending: int
    describe: Describe

    def __len__(self) -> int:
        return int(self.kind.size)


@dataclass(frozen=True, eq=False)
class KeyedPart:
    """A block's (or a source's) effects, coded; joined into :class:`KeyedEffects`."""

    kind: NDArray[np.int32]
    row: Rows
    unseen: pa.Array
    value: pa.Array
    status: NDArray[np.int32]


def keyed_part(
    kind: pa.Array,
    key: pa.Array,
    value: pa.Array,
    status: pa.Array,
    index: KeyIndex,
    kinds: Vocabulary,
    statuses: Vocabulary,
) -> KeyedPart:
    """Code one block's text columns; only the keys the ledger never saw stay text."""
    import pyarrow as pa

    row: Rows = index.rows_of(key).astype(index.row_type)
    unseen = np.flatnonzero(row < 0)
    return KeyedPart(
        kind=kinds.codes(kind),
        row=row,
        unseen=key.take(pa.array(unseen)).cast(pa.string()),
        value=value.cast(pa.string()),
        status=statuses.codes(status),
    )


def join_parts(parts: list[KeyedPart], row_type: type) -> KeyedPart:
    """The parts as one, in order; the list is emptied (each part's arrays let go as joined)."""
    import pyarrow as pa

    texts = pa.string()
    out = KeyedPart(
        kind=np.concatenate([np.zeros(0, dtype=np.int32), *(p.kind for p in parts)]),
        row=np.concatenate([np.zeros(0, dtype=row_type), *(p.row for p in parts)]),
        unseen=pa.concat_arrays([pa.array([], type=texts), *(p.unseen for p in parts)]),
        value=pa.concat_arrays([pa.array([], type=texts), *(p.value for p in parts)]),
        status=np.concatenate([np.zeros(0, dtype=np.int32), *(p.status for p in parts)]),
    )
    parts.clear()
    return out


def joined(
    parts: list[KeyedPart], kinds: Vocabulary, statuses: Vocabulary, pending: int, describe: Describe
) -> KeyedEffects:
    """One :class:`KeyedEffects` of the parts, in order, its codes in the narrowest integers."""
    one = join_parts(parts, parts[0].row.dtype.type if parts else np.int32)
    kind, status = _narrow(one.kind, kinds), _narrow(one.status, statuses)
    return KeyedEffects(
        kind, kinds.words, one.row, one.unseen, one.value, status, statuses.words, pending, describe
    )


def _narrow(codes: NDArray[np.int32], words: Vocabulary) -> NDArray[Any]:
    """Codes in the smallest integer type their word list allows (a few kinds: a byte each)."""
    for small in (np.int8, np.int16):
        if len(words.words) <= np.iinfo(small).max:
            return codes.astype(small)
    return codes


class ColumnDescriber:
    """The quoted effects of columns held in memory (a document read as JSON, a small audit)."""

    def __init__(self, ids: pa.Array, values: pa.Array, statuses: pa.Array) -> None:
        self.ids, self.values, self.statuses = ids, values, statuses

    def __call__(self, at: Sequence[int]) -> list[EffectText]:
        return [(str(self.ids[i].as_py()), self.values[i].as_py(), self.statuses[i].as_py()) for i in at]


def keyed(columns: EffectColumns, index: KeyIndex) -> KeyedEffects:
    """Text columns (a small audit, a document read as JSON) coded against ``index``."""
    kinds, statuses = Vocabulary(), Vocabulary()
    part = keyed_part(columns.kind, columns.key, columns.value, columns.status, index, kinds, statuses)
    describe = ColumnDescriber(columns.id, columns.value, columns.status)
    return joined([part], kinds, statuses, columns.pending, describe)
