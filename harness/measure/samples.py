"""The ledger as columns: what the health maths needs from each request, and nothing else.

:class:`RequestSamples` holds *completed* requests sorted by completion time (``end``): the
reports draw them there. Health is judged on a second ordering, :class:`JudgedSamples`, which
places each request where it tells the truth about the service (:func:`judged`): a request that
failed (or was slower than the SLO's latency bound) proves the service was still bad when it was
*sent*, so it is placed at its ``start``; a success proves the service was good by the time it
*ended*, so it is placed at its ``end``. Placing a slow failure at its end instead (a 1 s connect
timeout sent just before the service recovered) would move the recovery late by its latency,
unseen. Both orderings let the window maths find any window's requests with two binary searches.

A run can hold millions of requests, so :func:`load_samples` does not build a
:class:`~harness.load.ledger.LedgerRecord` per row: it takes the ``start_ns``, ``end_ns`` and
outcome columns of the trial's one columnar read of the ledger (:mod:`harness.measure.columns`),
which reads exactly what :func:`harness.load.ledger.read_records` reads: the first row of a shard
is its header, a torn last line (a crash mid-write) is skipped, and rows with the wrong number of
columns are skipped.

Times are float64 seconds relative to the run's start ``t0_ns`` (the subtraction is done in
integer nanoseconds first, so no precision is lost to the large absolute monotonic stamps).
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.load.ledger import LedgerRecord
from harness.measure.columns import FAIL, OK, OTHER, LedgerColumns, read_ledger

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def _frozen(values: ArrayLike, dtype: type[np.generic]) -> NDArray[np.generic]:
    """A 1-D read-only array, so a frozen dataclass is frozen all the way down.

    A caller's writable array is copied (they could change it under us); an array that is
    already read-only with the right dtype is kept as is, which spares a copy of every column
    when the constructors below hand over arrays they built themselves.
    """
    arr = np.asarray(values)
    if arr.dtype == dtype and arr.ndim == 1 and not arr.flags.writeable:
        return arr
    arr = np.array(arr, dtype=dtype, copy=True).reshape(-1)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class RequestSamples:
    """Completed requests as parallel arrays, sorted by completion time.

    ``end`` and ``start`` are seconds relative to the run's start, ``ok`` is ``outcome == "ok"``
    (indeterminate and definite failures both count against health: the user saw no success),
    ``latency`` is ``end - start`` in seconds. Arrays are read-only.

    Build one with :meth:`from_arrays` (any order), :meth:`from_records` or :func:`load_samples`;
    the raw constructor checks that ``end`` is already sorted and all lengths agree.
    """

    end: FloatArray
    ok: BoolArray
    start: FloatArray
    _judged: dict[float | None, JudgedSamples] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        end = _frozen(self.end, np.float64)
        ok = _frozen(self.ok, np.bool_)
        start = _frozen(self.start, np.float64)
        sizes = {"end": end.size, "ok": ok.size, "start": start.size}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"RequestSamples arrays must have one length, got {sizes}")
        if end.size > 1 and bool(np.any(np.diff(end) < 0)):
            raise ValueError(
                "RequestSamples.end must be sorted ascending; build with RequestSamples.from_arrays "
                "to have it sorted for you"
            )
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "start", start)

    def __len__(self) -> int:
        return int(self.end.size)

    @property
    def latency(self) -> FloatArray:
        """``end - start`` in seconds, worked out when asked (not a third array kept per request)."""
        return self.end - self.start

    def forget_judged(self) -> None:
        """Let the placed copies (:func:`judged`) go: two arrays and more per request, needed while
        the faults are measured, made again if asked later."""
        self._judged.clear()

    @classmethod
    def empty(cls) -> RequestSamples:
        """No requests at all: every window over it is unhealthy (silence)."""
        nothing = np.empty(0, dtype=np.float64)
        return cls(end=nothing, ok=np.empty(0, dtype=np.bool_), start=nothing)

    @classmethod
    def from_arrays(cls, start: ArrayLike, end: ArrayLike, ok: ArrayLike) -> RequestSamples:
        """Relative start/end seconds and success flags in any order; sorted stably by ``end``."""
        start_a = np.asarray(start, dtype=np.float64).reshape(-1)
        end_a = np.asarray(end, dtype=np.float64).reshape(-1)
        ok_a = np.asarray(ok, dtype=np.bool_).reshape(-1)
        if not start_a.size == end_a.size == ok_a.size:
            raise ValueError(
                f"start, end and ok must have one length, got {start_a.size}, {end_a.size}, {ok_a.size}"
            )
        order = np.argsort(end_a, kind="stable")
        start_s, end_s, ok_s = start_a[order], end_a[order], ok_a[order]
        del order
        for arr in (start_s, end_s, ok_s):
            arr.setflags(write=False)
        return cls(end=end_s, ok=ok_s, start=start_s)

    @classmethod
    def from_records(cls, records: Iterable[LedgerRecord], t0_ns: int) -> RequestSamples:
        """Samples from ledger records; ``t0_ns`` is the run's start on the run clock."""
        starts: array[int] = array("q")
        ends: array[int] = array("q")
        oks: array[int] = array("b")
        for rec in records:
            starts.append(rec.start_ns)
            ends.append(rec.end_ns)
            oks.append(_CODES.get(rec.outcome, 2))
        return _from_ns_columns([(starts, ends, oks)], t0_ns)


@dataclass(frozen=True, eq=False)
class JudgedSamples:
    """The same requests, each placed at the instant where it tells the truth; sorted by ``at``.

    ``bad`` is "failed, or slower than ``slow_above``" (the SLO's tightest latency bound, None
    if it has none); ``at`` is ``start`` for a bad request and ``end`` for a good one. ``ok``
    and ``latency`` are the outcome and latency, in the same order (the windows count them).
    """

    at: FloatArray
    start: FloatArray
    end: FloatArray
    ok: BoolArray
    bad: BoolArray
    slow_above: float | None

    def __len__(self) -> int:
        return int(self.at.size)

    @property
    def latency(self) -> FloatArray:
        """``end - start``, worked out when asked."""
        return self.end - self.start


def judged(samples: RequestSamples, slow_above: float | None = None) -> JudgedSamples:
    """``samples`` placed where each request tells the truth (see the module docstring); cached.

    Why this placement: if the service is bad until ``R`` and good after, a request that failed
    was answered by a bad service at some instant of ``[start, end]``, so ``start < R``; a
    request that succeeded was answered by a good one, so ``end >= R``. Placed at those
    instants, no request lands on the wrong side of a recovery, however slowly it failed.
    """
    cached = samples._judged.get(slow_above)
    if cached is not None:
        return cached
    bad = ~samples.ok
    if slow_above is not None:
        bad = bad | (samples.latency > slow_above)
    at = np.where(bad, samples.start, samples.end)
    order = np.argsort(at, kind="stable")
    out = JudgedSamples(
        at=at[order],
        start=samples.start[order],
        end=samples.end[order],
        ok=samples.ok[order],
        bad=bad[order],
        slow_above=slow_above,
    )
    for arr in (out.at, out.start, out.end, out.ok, out.bad):
        arr.setflags(write=False)
    samples._judged[slow_above] = out
    return out


_CODES = {"ok": OK, "fail": FAIL, "indeterminate": OTHER}  # outcome codes; ok is code 0


def _from_ns_columns(shards: list[tuple[array[int], array[int], array[int]]], t0_ns: int) -> RequestSamples:
    return _from_ns_columns_counted(shards, t0_ns)[0]


def _from_ns_columns_counted(
    shards: list[tuple[array[int], array[int], array[int]]], t0_ns: int
) -> tuple[RequestSamples, dict[str, int]]:
    """Samples and the number of requests per outcome (codes in the third column)."""
    if not shards:
        return RequestSamples.empty(), {name: 0 for name in _CODES}
    t0 = np.int64(t0_ns)

    def seconds(column: int) -> FloatArray:
        ns = np.concatenate([np.frombuffer(shard[column], dtype=np.int64) for shard in shards])
        ns -= t0  # relative first, in integers: absolute stamps would lose precision as floats
        out = ns.astype(np.float64)
        out /= 1e9
        return out

    start, end = seconds(0), seconds(1)
    codes = np.concatenate([np.frombuffer(o, dtype=np.int8) for _, _, o in shards])
    shards.clear()  # the packed columns are no longer needed; free them before sorting
    tally = np.bincount(codes, minlength=len(_CODES))
    counts = {name: int(tally[code]) for name, code in _CODES.items()}
    return RequestSamples.from_arrays(start, end, codes == 0), counts


def load_samples(paths: list[Path], t0_ns: int) -> RequestSamples:
    """Samples from ledger CSV shards (see :func:`harness.load.ledger.shard_paths`).

    Same rows as ``read_records(paths)``; shards are merged and sorted by completion time.
    A malformed number in a complete row raises ``ValueError``, as ``read_records`` does:
    a ledger we cannot read must not silently become a healthier-looking one.
    """
    return load_samples_counted(paths, t0_ns)[0]


def load_samples_counted(paths: list[Path], t0_ns: int) -> tuple[RequestSamples, dict[str, int]]:
    """:func:`load_samples` plus the number of requests per outcome, from the trial's one read of
    the ledger (:func:`harness.measure.columns.read_ledger`, shared with the failure breakdown and
    the consistency reconcile)."""
    columns = read_ledger(paths)
    made = _made.get(t0_ns)
    if made is not None and made[0]() is columns:
        return made[1]
    if columns.start_ns is None:  # another run clock's samples were made of it: read it anew
        columns = read_ledger(paths, whole=True)
    out = samples_of(columns, t0_ns)
    _made.clear()
    _made[t0_ns] = (weakref.ref(columns), out)
    columns.release_start()
    return out


#: The last samples made by :func:`load_samples_counted` and the ledger read they came from (whose
#: start times they now hold; not kept alive by this): asked again, they are given again.
_made: dict[int, tuple[weakref.ref[LedgerColumns], tuple[RequestSamples, dict[str, int]]]] = {}


def samples_of(columns: LedgerColumns, t0_ns: int) -> tuple[RequestSamples, dict[str, int]]:
    """Samples and outcome counts from the ledger's columns (outcome codes: ok 0, fail 1, other 2)."""
    if not len(columns):
        return RequestSamples.empty(), {name: 0 for name in _CODES}
    t0 = np.int64(t0_ns)

    def seconds(ns: NDArray[np.int64]) -> FloatArray:
        rel = ns - t0  # relative first, in integers: absolute stamps would lose precision as floats
        out = rel.astype(np.float64)
        out /= 1e9
        return out

    if columns.start_ns is None:
        raise ValueError("the ledger's start times were let go once its samples were made; read it anew")
    tally = np.bincount(columns.code, minlength=len(_CODES))
    counts = {name: int(tally[code]) for name, code in _CODES.items()}
    samples = RequestSamples.from_arrays(
        seconds(columns.start_ns), seconds(columns.end_ns), columns.code == 0
    )
    return samples, counts
