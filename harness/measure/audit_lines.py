"""A trial's audit kept a line per effect (:mod:`harness.measure.audit_store`), read by Arrow
block by block, once per trial.

Each block's effects are coded as the reconcile holds them (:mod:`harness.measure.keyed_effects`:
kinds and statuses as codes, each key found among the trial's ledger keys, values as text) and the
work items' stamps kept for the operations view; the rest of the block is dropped, so the
analysis never holds the audit's text, nor an effect's key or id. Where each block lies in its file
is kept, so the few effects a report quotes are read again. A source Arrow cannot take plainly (a
field missing, a type the contract refuses) goes through the JSON path and the contract's model,
so a malformed audit reads exactly as it always did."""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from harness.load.ledger import shard_paths
from harness.measure.audit import norm_value
from harness.measure.audit_arrays import WorkArrays, effect_columns, plain_columns
from harness.measure.audit_store import AUDIT_DIR, AuditSource, audit_sources, source_document
from harness.measure.columns import (
    FileIdentity,
    file_identity,
    read_ledger,
    release_unused,
    use_system_allocator,
)
from harness.measure.key_index import KeyIndex, key_index_of
from harness.measure.keyed_effects import (
    ColumnDescriber,
    Describe,
    EffectText,
    KeyedEffects,
    KeyedPart,
    Vocabulary,
    join_parts,
    joined,
    keyed_part,
)

if TYPE_CHECKING:
    import pyarrow as pa


def read_line_effects(trial_dir: Path, endpoint_of: Mapping[str, str]) -> KeyedEffects:
    """The effects of every source, keyed against the trial's ledger; the trial's parse is
    released (the reconcile reads last). A source Arrow could not take is read as JSON here, and
    judged by the contract's model (:class:`~harness.measure.audit.AuditSchemaError`)."""
    parsed = _take_pass(trial_dir)
    parts: list[KeyedPart] = []
    describers: list[Describe] = []
    pending = 0
    for source, one in zip(parsed.sources, parsed.passes, strict=True):
        if one.keyed is not None:
            parts.append(one.keyed)
            pending += one.pending
            describers.append(_LineDescriber(source, one.blocks))
            continue
        cols = effect_columns({source.service: source_document(source)}, endpoint_of)
        parts.append(
            keyed_part(
                cols.kind, cols.key, cols.value, cols.status, parsed.index, parsed.kinds, parsed.statuses
            )
        )
        pending += cols.pending
        describers.append(ColumnDescriber(cols.id, cols.value, cols.status))
    counts = [len(p.kind) for p in parts]
    return joined(parts, parsed.kinds, parsed.statuses, pending, _Sources(counts, describers))


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


#: Bytes of effect lines Arrow parses at a time: the text held at once, whatever the audit's size.
BLOCK = 1 << 20
_WorkParts = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int32]]
#: Where a block of effect lines lies: (byte offset, byte length, its first effect's place in the source).
_Block = tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class _SourcePass:
    """One source's parse: its effects keyed (None: not plainly valid, the JSON path judges it),
    where its blocks lie, and its work stamps (None: not integer columns, the JSON path reads them)."""

    keyed: KeyedPart | None
    pending: int
    blocks: list[_Block]
    work: _WorkParts | None


@dataclass(frozen=True, eq=False)
class _TrialPass:
    sources: list[AuditSource]
    passes: list[_SourcePass]
    index: KeyIndex
    kinds: Vocabulary
    statuses: Vocabulary
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
    """Every source of the trial's audit, keyed against the trial's ledger (its one read)."""
    use_system_allocator()
    sources = audit_sources(trial_dir)
    index = key_index_of(read_ledger(shard_paths(trial_dir)).key)
    kinds, statuses = Vocabulary(), Vocabulary()
    passes = [_parse_source(s, index, kinds, statuses) for s in sources]
    return _TrialPass(sources, passes, index, kinds, statuses)


def _parse_source(
    source: AuditSource, index: KeyIndex, kinds: Vocabulary, statuses: Vocabulary
) -> _SourcePass:
    """One source's effect lines, block by block; a block Arrow cannot read, or whose effects are
    not plainly valid, leaves the whole source to the JSON path."""
    import pyarrow as pa

    doc = source.document
    given = doc.get("pending", 0) if isinstance(doc, dict) else None
    pending = given if type(given) is int else -1
    # "effects" in the document: never written so by the store, but a hand-made file could be
    plain = source.effects_at is not None and pending >= 0 and "effects" not in doc
    parts: list[KeyedPart] = []
    blocks: list[_Block] = []
    work: list[_WorkParts] | None = []
    effects = parsed = 0
    try:
        for at, text in _line_blocks(source):
            batch = _parse_block(text)
            if batch is None:
                continue  # blank lines only
            if plain:
                part = _block_part(batch, index, kinds, statuses)
                if part is None:
                    plain = False
                    parts.clear()
                else:
                    parts.append(part)
                    blocks.append((at, len(text), effects))
            effects += batch.num_rows
            if work is not None:
                stamps = _batch_work(batch)
                if stamps is None:
                    work = None
                else:
                    work.append(stamps)
            del batch
            if not plain and work is None:
                break
            parsed += 1
            if parsed % 8 == 0:  # what each block's parse freed goes back now, not at the end
                release_unused()
    except (pa.ArrowException, ValueError):
        return _SourcePass(None, 0, [], None)
    if not plain:
        return _SourcePass(None, 0, [], _join_work_parts(work))
    keyed = join_parts(parts, index.row_type)
    release_unused()
    return _SourcePass(keyed, pending, blocks, _join_work_parts(work))


def _line_blocks(source: AuditSource) -> Iterator[tuple[int, bytes]]:
    """The source's effect lines in blocks of about :data:`BLOCK` bytes, each ending at a line's
    end, with the byte offset each starts at."""
    if source.effects_at is None:
        return
    with source.path.open("rb") as fh:
        at = source.effects_at
        fh.seek(at)
        carry = b""
        while True:
            chunk = fh.read(BLOCK)
            if not chunk:
                if carry.strip():
                    yield at, carry
                return
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: read on to its end
                carry = data
                continue
            yield at, data[:cut]
            at += cut
            carry = data[cut:]


def _parse_block(text: bytes) -> pa.RecordBatch | None:
    """A block's lines as one record batch (None: blank lines only)."""
    import pyarrow as pa
    from pyarrow import json as pa_json

    table = pa_json.read_json(
        pa.BufferReader(text),
        read_options=pa_json.ReadOptions(block_size=len(text) + 1, use_threads=False),
        parse_options=pa_json.ParseOptions(newlines_in_values=False),
    )
    if not table.num_rows:
        return None
    return table.combine_chunks().to_batches()[0]


def _block_part(
    batch: pa.RecordBatch, index: KeyIndex, kinds: Vocabulary, statuses: Vocabulary
) -> KeyedPart | None:
    """A block's effects keyed, or None if any effect in it is not plainly valid."""
    plain = plain_columns(batch.column, set(batch.schema.names), batch.num_rows)
    if plain is None:
        return None
    kind, key, value, status, _ = plain
    return keyed_part(kind, key, value, status, index, kinds, statuses)


class _LineDescriber:
    """The quoted effects of a source kept a line per effect, read again from their blocks."""

    def __init__(self, source: AuditSource, blocks: list[_Block]) -> None:
        self.source, self.blocks = source, blocks
        self._firsts = [b[2] for b in blocks]

    def __call__(self, at: Sequence[int]) -> list[EffectText]:
        out = []
        with self.source.path.open("rb") as fh:
            for i in at:
                offset, size, first = self.blocks[bisect.bisect_right(self._firsts, i) - 1]
                fh.seek(offset)
                lines = [line for line in fh.read(size).split(b"\n") if line.strip()]
                effect = json.loads(lines[i - first])
                out.append((str(effect["id"]), norm_value(effect.get("value")), effect.get("status")))
        return out


class _Sources:
    """Describes an effect of the trial by the source it came from."""

    def __init__(self, counts: list[int], describers: list[Describe]) -> None:
        self.starts = np.cumsum([0, *counts]).tolist()
        self.describers = describers

    def __call__(self, at: Sequence[int]) -> list[EffectText]:
        out = []
        for i in at:
            n = bisect.bisect_right(self.starts, i) - 1
            out.extend(self.describers[n]([i - self.starts[n]]))
        return out


def _batch_work(batch: pa.RecordBatch) -> _WorkParts | None:
    """A block's work stamps (effects with ``accepted_ns``), or None if they are not integers."""
    import pyarrow as pa

    names = set(batch.schema.names)
    rows = batch.num_rows
    if "accepted_ns" not in names:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.int32)
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
        # a count: 4 bytes (clipped: a hostile audit's huge count stays huge)
        np.clip(cols["attempts"][0][keep], -(2**31), 2**31 - 1).astype(np.int32),
    )


def _join_work_parts(parts: list[_WorkParts] | None) -> _WorkParts | None:
    if parts is None:
        return None
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.concatenate([empty, *(p[0] for p in parts)]),
        np.concatenate([empty, *(p[1] for p in parts)]),
        np.concatenate([np.zeros(0, dtype=np.bool_), *(p[2] for p in parts)]),
        np.concatenate([np.zeros(0, dtype=np.int32), *(p[3] for p in parts)]),
    )


def _joined_work(parts: list[_WorkParts]) -> WorkArrays:
    joined = _join_work_parts(parts)
    assert joined is not None
    return WorkArrays(accepted_ns=joined[0], finished_ns=joined[1], finished=joined[2], attempts=joined[3])
