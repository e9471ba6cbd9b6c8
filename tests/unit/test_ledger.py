"""The ledger shard writer: rows counted, and a row after the close is an error, never a silent loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.control import done_marker
from harness.load.ledger import LedgerClosedError, LedgerRecord, LedgerWriter, read_records


def rec(n: int) -> LedgerRecord:
    return LedgerRecord(f"r{n}", "create", f"k{n}", n, n + 1, "ok", 201, 0.001, 1, "", "100")


def test_a_row_after_the_close_raises_instead_of_vanishing(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path / "ledger-7.csv")
    writer.write(rec(1))
    writer.write(rec(2))
    writer.close()
    assert writer.closed and writer.rows == 2
    with pytest.raises(LedgerClosedError, match="k3"):
        writer.write(rec(3))
    assert [r.key for r in read_records([writer.path])] == ["k1", "k2"]


def test_the_done_marker_sits_beside_its_shard_and_is_not_a_shard(tmp_path: Path) -> None:
    shard = tmp_path / "ledger-7.csv"
    assert done_marker(shard) == tmp_path / "ledger-7.done"
    assert not done_marker(shard).match("ledger-*.csv")
