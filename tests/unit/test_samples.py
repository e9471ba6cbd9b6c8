"""RequestSamples: the ledger as sorted columns, read exactly as read_records reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.load.ledger import LedgerRecord, LedgerWriter, Outcome, read_records
from harness.measure.samples import RequestSamples, load_samples

T0 = 5_000_000_000_000  # a realistic absolute monotonic stamp (ns): ~83 minutes after boot


def record(i: int, start_ms: float, end_ms: float, outcome: Outcome = "ok", error: str = "") -> LedgerRecord:
    return LedgerRecord(
        id=f"r{i}",
        op="write",
        key=f"k{i}",
        start_ns=T0 + round(start_ms * 1e6),
        end_ns=T0 + round(end_ms * 1e6),
        outcome=outcome,
        status=200 if outcome == "ok" else 0,
        latency_ms=end_ms - start_ms,
        attempt=1,
        error=error,
    )


def test_from_arrays_sorts_by_end_and_computes_latency() -> None:
    s = RequestSamples.from_arrays(start=[0.5, 0.0, 1.0], end=[2.0, 0.25, 1.5], ok=[True, False, True])
    np.testing.assert_array_equal(s.end, [0.25, 1.5, 2.0])
    np.testing.assert_array_equal(s.start, [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(s.ok, [False, True, True])
    np.testing.assert_allclose(s.latency, [0.25, 0.5, 1.5])
    assert len(s) == 3


def test_arrays_are_read_only_and_independent_of_the_callers() -> None:
    end = np.array([1.0, 2.0])
    s = RequestSamples(end=end, ok=np.array([True, True]), start=end - 0.1)
    end[0] = 99.0
    assert s.end[0] == 1.0
    with pytest.raises(ValueError):
        s.end[0] = 3.0


def test_empty() -> None:
    s = RequestSamples.empty()
    assert len(s) == 0
    assert s.end.dtype == np.float64 and s.ok.dtype == np.bool_


@pytest.mark.parametrize(
    ("end", "ok", "message"),
    [([1.0, 2.0], [True], "one length"), ([2.0, 1.0], [True, True], "sorted")],
)
def test_constructor_rejects_bad_columns(end: list[float], ok: list[bool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestSamples(end=np.array(end), ok=np.array(ok), start=np.zeros(len(end)))


def test_from_records_is_relative_to_t0() -> None:
    s = RequestSamples.from_records(
        [record(0, 1000, 1250), record(1, 500, 800, "fail"), record(2, 900, 1100, "indeterminate")], T0
    )
    np.testing.assert_allclose(s.end, [0.8, 1.1, 1.25])
    np.testing.assert_allclose(s.start, [0.5, 0.9, 1.0])
    np.testing.assert_allclose(s.latency, [0.3, 0.2, 0.25])
    np.testing.assert_array_equal(s.ok, [False, False, True])  # indeterminate is not ok


def test_from_records_keeps_nanosecond_precision_of_large_stamps() -> None:
    s = RequestSamples.from_records([record(0, 0, 0.000001)], T0)  # 1 ns after a 5e12 ns stamp
    assert s.end[0] == pytest.approx(1e-9, abs=1e-15)


def write_shard(path: Path, records: list[LedgerRecord], torn_tail: str = "") -> None:
    writer = LedgerWriter(path)
    for r in records:
        writer.write(r)
    writer.close()
    if torn_tail:
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(torn_tail)


def test_load_samples_matches_read_records_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    a, b = tmp_path / "ledger-1.csv", tmp_path / "ledger-2.csv"
    write_shard(
        a,
        [
            record(0, 0, 100),
            record(1, 50, 300, "fail", error='boom, "quoted"\nsecond line'),
            record(2, 10, 200),
        ],
        torn_tail=f"r9,write,k9,{T0},{T0 + 10**9},o",  # crash mid-write: no newline
    )
    write_shard(b, [record(3, 100, 150, "indeterminate"), record(4, 0, 400)])
    (tmp_path / "ledger-3.csv").write_text("", encoding="utf-8")  # a shard that never got its header

    paths = sorted(tmp_path.glob("ledger-*.csv"))
    s = load_samples(paths, T0)
    expected = RequestSamples.from_records(read_records(paths), T0)

    assert len(s) == 5
    np.testing.assert_allclose(s.end, [0.1, 0.15, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(s.ok, [True, False, True, False, True])
    np.testing.assert_array_equal(s.end, expected.end)
    np.testing.assert_array_equal(s.start, expected.start)
    np.testing.assert_array_equal(s.ok, expected.ok)


def test_load_samples_skips_rows_with_the_wrong_number_of_columns(tmp_path: Path) -> None:
    path = tmp_path / "ledger-1.csv"
    write_shard(path, [record(0, 0, 100)])
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write("only,three,columns\r\n")
    write_shard(path, [record(1, 0, 200)])  # appends, no second header
    s = load_samples([path], T0)
    np.testing.assert_allclose(s.end, [0.1, 0.2])


def test_load_samples_of_nothing(tmp_path: Path) -> None:
    assert len(load_samples([], T0)) == 0
    path = tmp_path / "ledger-1.csv"
    write_shard(path, [])
    assert len(load_samples([path], T0)) == 0


def test_counted_loading_counts_every_outcome(tmp_path: Path) -> None:
    from harness.load.ledger import LedgerRecord, LedgerWriter
    from harness.measure.samples import load_samples, load_samples_counted

    writer = LedgerWriter(tmp_path / "ledger-1.csv")
    for i, outcome in enumerate(["ok", "ok", "fail", "indeterminate", "ok"]):
        writer.write(LedgerRecord(str(i), "op", "", i, i + 10, outcome, 200, 1.0, 1, ""))  # type: ignore[arg-type]
    writer.close()
    samples, counts = load_samples_counted([tmp_path / "ledger-1.csv"], 0)
    assert counts == {"ok": 3, "fail": 1, "indeterminate": 1}
    assert samples.ok.tolist() == load_samples([tmp_path / "ledger-1.csv"], 0).ok.tolist()


def test_the_ledger_lets_its_start_times_go_once_the_samples_hold_them(tmp_path: Path) -> None:
    """The samples are the start times' only reader: the trial's kept ledger read drops them (8
    bytes a row), gives the same samples when asked again, and is read anew for another run clock."""
    from harness.measure.columns import read_ledger
    from harness.measure.samples import load_samples_counted

    path = tmp_path / "ledger-1.csv"
    write_shard(path, [record(0, 0, 100), record(1, 50, 300, "fail"), record(2, 10, 200)])
    first = load_samples_counted([path], T0)
    assert read_ledger([path]).start_ns is None  # let go; every other column stays
    assert read_ledger([path]).end_ns.size == 3 and len(read_ledger([path])) == 3
    assert load_samples_counted([path], T0) is first  # asked again: the same samples
    later = load_samples_counted([path], T0 - 10**9)  # another run clock: the ledger read anew
    expected = RequestSamples.from_records(read_records([path]), T0 - 10**9)
    np.testing.assert_array_equal(later[0].start, expected.start)
    np.testing.assert_array_equal(later[0].end, expected.end)
