"""Data consistency: the ledger (what clients were told) against the audit (what the system kept).

Definitions, from DESIGN.md (binding):

* an op is *acknowledged* when any attempt under its idempotency key got a success answer;
  *definitely failed* when every attempt failed definitely (4xx, refused before sending);
  *indeterminate* otherwise (timeouts, resets after sending, 5xx): it may or may not have applied;
* **lost** = acknowledged ops whose primary effect is absent from the audit;
* **duplicated** = ops with more than one effect of a kind (two orders for one key, a double charge);
* **corrupted** = effects present with a value different from what was acknowledged;
* **phantom** = effects of definitely-failed ops that are present;
* indeterminate ops are counted as present or absent, never as lost;
* **stuck** = work accepted and not finished after the drain, each unit once: keys whose primary
  effects are none in the final status, plus ``pending`` (work the target reports as a count
  because it has no effect to list yet; the audit contract forbids counting an effect there too);
* **unledgered** = effects whose key the ledger never saw: the ledger missed a request the target
  received (or the target invented a key). A harness error, never silently ignored: with it, the
  other figures cannot be trusted.

Keys are idempotency keys: every attempt of an op (a client retry, a duplicate resend) carries the
same key, so the key is the op's identity on both sides.

The reconcile runs on columns (:func:`reconcile_columns`): the ledger's columns from the trial's one
read (:mod:`harness.measure.columns`) and the audit's effects as codes
(:mod:`harness.measure.keyed_effects`: each key already found among the ledger's by the trial's key
index, exactly). Writes are judged per key (:mod:`harness.measure.writes`), the effects a kind at a
time over the key codes, so a million writes cost no Python object per row. Only the few examples
quoted in the report are turned into text (their ids read again from the kept audit).
:func:`reconcile` takes records and effects (tests, small callers) and runs the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.load.ledger import LedgerRecord
from harness.measure.audit import Audit, AuditEffect, norm_value
from harness.measure.audit_columns import EffectColumns, columns_of
from harness.measure.columns import FAIL, OK, OTHER, LedgerColumns
from harness.measure.key_index import key_index_of
from harness.measure.keyed_effects import KeyedEffects, keyed
from harness.measure.writes import Writes, judge_writes

if TYPE_CHECKING:
    import pyarrow as pa

EXAMPLES = 5
UNLEDGERED_KEYS = 20  # keys listed with the unledgered figure, to go and look for


@dataclass(frozen=True)
class Effect:
    kind: str
    key: str
    value: str | None  # None: the target does not record it; never compared
    status: str | None
    id: str

    @classmethod
    def from_audit(cls, e: AuditEffect) -> Effect:
        return cls(e.kind, e.key, norm_value(e.value), e.status, str(e.id))


def effects_of(audits: Mapping[str, Audit]) -> list[Effect]:
    """Every effect of every (validated) audit source."""
    return [Effect.from_audit(e) for a in audits.values() for e in a.effects]


@dataclass
class Consistency:
    writes: int = 0
    acknowledged: int = 0
    definitely_failed: int = 0
    indeterminate: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    phantom: int = 0
    indeterminate_present: int = 0
    indeterminate_absent: int = 0
    stuck: int = 0  # includes `pending`
    pending: int = 0  # of stuck: work the target reported only as a count
    unledgered: int = 0  # effects whose key the ledger never saw: a harness error
    unledgered_keys: list[str] = field(default_factory=list)
    effects: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile(
    records: Iterable[LedgerRecord],
    effects: Iterable[Effect],
    *,
    write_ops: Iterable[str],
    primary: str,
    final_status: str | None,
    pending: int = 0,
) -> Consistency:
    """:func:`reconcile_columns` of ledger records and effects (a few rows: tests, small callers)."""
    import pyarrow as pa

    rows = list(records)
    found = list(effects)
    text = pa.string()
    codes = {"ok": OK, "fail": FAIL}
    ledger = LedgerColumns(
        op=pa.array([r.op for r in rows], type=text),
        key=pa.array([r.key for r in rows], type=text),
        start_ns=np.array([r.start_ns for r in rows], dtype=np.int64),
        end_ns=np.array([r.end_ns for r in rows], dtype=np.int64),
        outcome=pa.array([r.outcome for r in rows], type=text),
        code=np.array([codes.get(r.outcome, OTHER) for r in rows], dtype=np.int8),
        status=np.array([r.status for r in rows], dtype=np.int64),
        error=pa.array([r.error for r in rows], type=text),
        value=pa.array([r.value for r in rows], type=text),
    )
    columns = columns_of(
        [
            (
                [e.kind for e in found],
                [e.key for e in found],
                [e.value for e in found],
                [e.status for e in found],
                [e.id for e in found],
                pending,
            )
        ]
    )
    return reconcile_columns(ledger, columns, write_ops=write_ops, primary=primary, final_status=final_status)


def _np(arr: pa.Array | pa.ChunkedArray) -> NDArray[Any]:
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _bools(arr: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    """An Arrow boolean result as numpy, null as False."""
    return np.asarray(_np(arr.fill_null(False)), dtype=np.bool_)


def _smallest(keys: pa.Array, k: int) -> list[str]:
    """The ``k`` smallest strings, sorted (Arrow sorts by UTF-8 bytes: Python's code point order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(keys) > 4 * k:
        picked = pc.select_k_unstable(pa.table({"k": keys}), k=k, sort_keys=[("k", "ascending")])
        keys = keys.take(picked)
    return sorted(keys.to_pylist())[:k]


@dataclass(frozen=True, eq=False)
class _Keys:
    """Each effect's key as a code: its ledger row (below ``rows``), else ``rows`` plus its place
    among ``extra``, the keys the ledger never saw."""

    of_effect: NDArray[Any]
    rows: int
    extra: pa.Array

    @property
    def width(self) -> int:
        return max(self.rows + len(self.extra), 1)

    def texts(self, ledger: LedgerColumns, codes: NDArray[Any]) -> pa.Array:
        """The keys of ``codes``, as text."""
        import pyarrow as pa

        if not len(self.extra) or not bool((codes >= self.rows).any()):
            return ledger.key.take(pa.array(codes)).cast(pa.string())
        both = pa.concat_arrays([ledger.key.cast(pa.string()), self.extra.cast(pa.string())])
        return both.take(pa.array(codes))


def _keys(effects: KeyedEffects, rows: int) -> _Keys:
    """The effects' key codes: the ledger rows already found (no hash of the effects' keys here),
    the few keys the ledger never saw after them."""
    import pyarrow as pa

    extra = pa.array([], type=pa.string())
    of_effect: NDArray[Any] = effects.row  # shared while every key was seen (read only here)
    unseen = np.flatnonzero(of_effect < 0)
    if unseen.size:
        of_effect = of_effect.copy()
        coded = effects.unseen.dictionary_encode()
        extra = coded.dictionary.cast(pa.string())
        wide = rows + len(extra) >= 2**31 - 1
        of_effect = of_effect.astype(np.int64) if wide else of_effect
        of_effect[unseen] = rows + _np(coded.indices).astype(of_effect.dtype)
    return _Keys(of_effect, rows, extra)


def reconcile_columns(
    ledger: LedgerColumns,
    effects: EffectColumns | KeyedEffects,
    *,
    write_ops: Iterable[str],
    primary: str,
    final_status: str | None,
) -> Consistency:
    """The ledger against the effects the target holds; see the module docstring for each count.

    Three steps, each adding its counts and its examples: the effects no ledgered request asked
    for, each write by what the client was told against its primary effect, and each (kind, key)
    by what the target holds."""
    index = key_index_of(ledger.key)
    fx = effects if isinstance(effects, KeyedEffects) else keyed(effects, index)
    w, slot_of_row = judge_writes(ledger, index, write_ops)
    c = Consistency(pending=fx.pending, writes=len(w.rows))
    examples: list[_Example] = []
    keys = _keys(fx, len(ledger))
    write_of = _unledgered(c, examples, fx, slot_of_row)
    del slot_of_row
    primary_code = fx.kinds.index(primary) if primary in fx.kinds else -1
    _judge_writes(c, examples, ledger, w, fx, write_of, primary_code)
    _judge_held(c, examples, ledger, w, keys, fx, write_of, primary_code, final_status)
    if c.pending:
        c.stuck += c.pending
        more = f"{c.pending} more reported pending by the target (not yet an effect)"
        examples.append(((3, 0, "", "", 0), "stuck", [more]))
    # the examples in the order the report has always listed them (first seen, in key order)
    for _, name, texts in sorted(examples, key=lambda e: e[0]):
        bucket = c.examples.setdefault(name, [])
        bucket.extend(texts[: EXAMPLES - len(bucket)])
    return c


#: An example for the report: (its place in the listing, the figure it shows, its texts).
_Example = tuple[tuple[int, int, str, str, int], str, list[str]]


def _unledgered(
    c: Consistency,
    examples: list[_Example],
    effects: KeyedEffects,
    slot_of_row: NDArray[Any],
) -> NDArray[Any]:
    """Count the effects no ledgered request asked for; the write each effect answers (-1: none)."""
    import pyarrow.compute as pc

    ledgered = effects.row >= 0
    c.unledgered = int((~ledgered).sum())
    if c.unledgered:
        c.unledgered_keys = _smallest(pc.unique(effects.unseen), UNLEDGERED_KEYS)
        examples.append(((0, 0, "", "", 0), "unledgered", c.unledgered_keys[:EXAMPLES]))
    if not len(slot_of_row):
        return np.full(len(effects), -1, dtype=np.int64)
    write_of = slot_of_row[np.maximum(effects.row, 0)]
    write_of[~ledgered] = -1
    return write_of


def _judge_writes(
    c: Consistency,
    examples: list[_Example],
    ledger: LedgerColumns,
    w: Writes,
    effects: KeyedEffects,
    write_of: NDArray[Any],
    primary_code: int,
) -> None:
    """Each write by what the client was told (acknowledged, definitely failed, indeterminate),
    against whether its primary effect is there: lost, phantom, indeterminate present/absent."""
    import pyarrow as pa

    is_primary = effects.kind == primary_code
    present = np.zeros(len(w.rows), dtype=np.bool_)
    present[write_of[is_primary & (write_of >= 0)]] = True
    del is_primary
    indeterminate = ~w.acknowledged & ~w.definite
    lost, phantom = w.acknowledged & ~present, w.definite & present
    c.acknowledged, c.lost = int(w.acknowledged.sum()), int(lost.sum())
    c.definitely_failed, c.phantom = int(w.definite.sum()), int(phantom.sum())
    c.indeterminate = int(indeterminate.sum())
    c.indeterminate_present = int((indeterminate & present).sum())
    c.indeterminate_absent = c.indeterminate - c.indeterminate_present
    for name, mask in (("lost", lost), ("phantom", phantom)):
        if mask.any():
            keys = _smallest(ledger.key.take(pa.array(w.rows[mask])).cast(pa.string()), EXAMPLES)
            examples.append(((1, 0, keys[0], "", 0), name, keys))


def _judge_held(
    c: Consistency,
    examples: list[_Example],
    ledger: LedgerColumns,
    w: Writes,
    keys: _Keys,
    effects: KeyedEffects,
    write_of: NDArray[Any],
    primary_code: int,
    final_status: str | None,
) -> None:
    """Each (kind, key) by what the target holds: duplicated, corrupted, stuck. A kind at a time,
    its keys counted over the key codes (no table of every (kind, key) pair)."""
    wrong = _wrong_values(effects.value, w.asked, write_of)
    final = effects.statuses.index(final_status) if final_status in effects.statuses else -2
    flagged: dict[str, list[tuple[str, str, int]]] = {"duplicated": [], "corrupted": [], "stuck": []}
    for code, kind in sorted(enumerate(effects.kinds), key=lambda e: e[1]):
        members = effects.kind == code
        of = keys.of_effect[members]
        c.effects[kind] = int(of.size)
        count = np.bincount(of, minlength=keys.width)
        held, duplicated = count > 0, count > 1
        del count
        corrupted = np.zeros(keys.width, dtype=np.bool_)
        corrupted[of[wrong[members]]] = True
        flags = {"duplicated": duplicated, "corrupted": corrupted}
        if final_status is not None and code == primary_code:
            done = np.zeros(keys.width, dtype=np.bool_)
            done[of[effects.status[members] == final]] = True
            flags["stuck"] = held & ~done
        del members, of, held
        c.duplicated += int(flags["duplicated"].sum())
        c.corrupted += int(flags["corrupted"].sum())
        c.stuck += int(flags["stuck"].sum()) if "stuck" in flags else 0
        for name, mask in flags.items():
            if len(flagged[name]) < EXAMPLES:  # the kinds come in name order: the first few suffice
                flagged[name] += [(kind, key, code) for key, code in _first_keys(ledger, keys, mask)]
    c.effects = {k: n for k, n in sorted(c.effects.items(), key=lambda e: effects.kinds.index(e[0])) if n}
    for rank, name in enumerate(("duplicated", "corrupted", "stuck")):
        chosen = flagged[name][:EXAMPLES]
        if chosen:
            texts = _group_texts(name, chosen, keys, effects, w.asked, write_of, wrong)
            examples.append(((2, 0, chosen[0][0], chosen[0][1], rank), name, texts))


def _first_keys(ledger: LedgerColumns, keys: _Keys, mask: NDArray[np.bool_]) -> list[tuple[str, int]]:
    """The first :data:`EXAMPLES` flagged keys in text order, with their codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cand = np.flatnonzero(mask)
    if not cand.size:
        return []
    texts = keys.texts(ledger, cand)
    if cand.size > 4 * EXAMPLES:  # many: select the smallest keys in Arrow, not in Python
        smallest = _smallest(texts, EXAMPLES)
        at = pc.index_in(pa.array(smallest, type=pa.string()), value_set=texts).to_pylist()
        return [(k, int(cand[i])) for k, i in zip(smallest, at, strict=True)]
    return sorted(zip(texts.to_pylist(), cand.tolist(), strict=True))[:EXAMPLES]


#: Effects compared with what their client sent at a time (the sent values are looked up as text).
CHUNK = 1 << 18


def _wrong_values(value: pa.Array, asked: pa.Array, write_of: NDArray[Any]) -> NDArray[np.bool_]:
    """Whether each effect holds a value other than the one its client sent (a recorded value,
    against a write that sent one), a chunk of effects at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.zeros(len(value), dtype=np.bool_)
    for lo in range(0, len(value), CHUNK):
        of = write_of[lo : lo + CHUNK]
        sent = asked.take(pa.array(of, mask=of < 0)).fill_null("")
        held = value.slice(lo, len(of))
        wrong = pc.and_(pc.and_(pc.is_valid(held), pc.not_equal(sent, "")), pc.not_equal(held, sent))
        out[lo : lo + len(of)] = _bools(wrong)
    return out


def _group_texts(
    name: str,
    chosen: list[tuple[str, str, int]],
    keys: _Keys,
    effects: KeyedEffects,
    asked: pa.Array,
    write_of: NDArray[Any],
    wrong: NDArray[np.bool_],
) -> list[str]:
    """The report's text for each chosen (kind, key), from its effects in audit order (the quoted
    effects described again by the audit: ids are not held)."""
    of: dict[tuple[str, str, int], list[int]] = {}
    for kind, key, code in chosen:
        at = effects.kinds.index(kind)
        of[(kind, key, code)] = np.flatnonzero((keys.of_effect == code) & (effects.kind == at)).tolist()
    quoted = {
        one: (
            found[:3]
            if name == "duplicated"
            else [next(e for e in found if wrong[e])]
            if name == "corrupted"
            else found[:1]
        )
        for one, found in of.items()
    }
    wanted = sorted({e for es in quoted.values() for e in es})
    text_of = dict(zip(wanted, effects.describe(wanted), strict=True))
    out = []
    for one in chosen:
        kind, key, _ = one
        found = of[one]
        if name == "duplicated":
            ids = ", ".join(text_of[e][0] for e in quoted[one])
            out.append(f"{key}: {len(found)} {kind}s ({ids})")
        elif name == "corrupted":
            (e,) = quoted[one]
            sent = asked[int(write_of[e])].as_py()
            out.append(f"{key}: {kind} {text_of[e][0]} has {effects.value[e].as_py()}, client sent {sent}")
        else:
            (e,) = quoted[one]
            out.append(f"{key}: {kind} {text_of[e][0]} is {text_of[e][2]!r}")
    return out
