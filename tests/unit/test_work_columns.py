"""The audit's work items read by column (Arrow, no object per effect) give the very log the
per-effect JSON reading gave: same items, same backlog, cycle times and retries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.load.ledger import shard_paths
from harness.measure.audit_columns import read_keyed_effects, read_work_arrays
from harness.measure.audit_store import write_audit
from harness.measure.business import WorkItem, WorkLog
from harness.measure.columns import read_ledger
from harness.measure.operations import work_items, work_log_of

T0 = 1_000_000_000_000


def _effect(draw: Any, n: int) -> dict[str, Any]:
    e: dict[str, Any] = {"kind": "order", "key": f"k{n}", "id": n}
    if draw(st.booleans()):  # a charge without stamps, or an order with them
        e["accepted_ns"] = T0 + draw(st.integers(0, 60_000_000_000))
        finished = draw(st.one_of(st.none(), st.integers(0, 9_000_000_000)))
        if finished is not None:
            e["finished_ns"] = e["accepted_ns"] + finished
        elif draw(st.booleans()):
            e["finished_ns"] = None
        attempts = draw(st.one_of(st.none(), st.integers(0, 5)))
        if attempts is not None or draw(st.booleans()):
            e["attempts"] = attempts
    return e


@st.composite
def audits(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for svc in draw(st.lists(st.sampled_from(["api", "worker", "pay"]), min_size=1, max_size=3, unique=True)):
        count = draw(st.integers(0, 40))
        out[svc] = {"effects": [_effect(draw, n) for n in range(count)], "pending": 0}
    return out


def _same(a: WorkLog, b: WorkLog) -> None:
    assert len(a) == len(b)
    assert np.array_equal(a.accepted, b.accepted)
    assert np.array_equal(a.finished, b.finished)
    assert np.array_equal(a.stamps, b.stamps)
    pts = np.linspace(-1.0, 75.0, 301)
    assert np.array_equal(a.backlog(pts), b.backlog(pts))
    for lo, hi in ((0.0, 10.0), (5.0, 40.0), (0.0, 80.0)):
        assert np.array_equal(np.sort(a.cycle_times(lo, hi)), np.sort(b.cycle_times(lo, hi)))
        assert a.retries_in(lo, hi) == b.retries_in(lo, hi)
        assert a.max_backlog(lo, hi) == b.max_backlog(lo, hi)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(audits())
def test_columns_read_the_same_work_log_as_json(tmp_path: Path, docs: dict[str, Any]) -> None:
    items = work_items(docs, T0)
    for trial_dir in _both_layouts(tmp_path, docs):
        arrays = read_work_arrays(trial_dir)
        assert arrays is not None
        _same(work_log_of(arrays, T0), WorkLog(items))


def _both_layouts(tmp_path: Path, docs: dict[str, Any]) -> list[Path]:
    """The audit kept as a trial keeps it (a line per effect) and as older runs did (audit.json)."""
    lines, legacy = tmp_path / "lines", tmp_path / "legacy"
    for d in (lines, legacy):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    write_audit(lines, docs)
    (legacy / "audit.json").write_text(json.dumps(docs, indent=1))
    return [lines, legacy]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        # a finish before its acceptance too: an audit's clocks can disagree
        st.tuples(st.floats(0, 100), st.one_of(st.none(), st.floats(-5, 5)), st.integers(-1, 4)),
        max_size=200,
    )
)
def test_retries_count_the_items_in_the_backlog_during_the_span(
    rows: list[tuple[float, float | None, int]],
) -> None:
    """``retries_in`` is the old per-item sum: attempts beyond the first of every item accepted by
    the span's end and not finished before its start."""
    items = [WorkItem(str(i), a, None if d is None else a + d, n) for i, (a, d, n) in enumerate(rows)]
    log = WorkLog(items)
    for lo, hi in ((0.0, 30.0), (20.0, 60.0), (50.0, 110.0)):
        in_span = [i for i in items if i.accepted_at <= hi and (i.finished_at is None or i.finished_at >= lo)]
        assert log.retries_in(lo, hi) == sum(max(0, i.attempts - 1) for i in in_span)


def test_stamps_of_another_type_fall_back_to_json(tmp_path: Path) -> None:
    doc = {"api": {"effects": [{"kind": "order", "key": "a", "id": 1, "accepted_ns": 1.5e12}]}}
    for trial_dir in _both_layouts(tmp_path, doc):
        assert read_work_arrays(trial_dir) is None  # a float stamp: the JSON reading judges it


def test_the_reconcile_reads_the_parse_the_work_log_made(tmp_path: Path) -> None:
    """One Arrow parse per audit: the work log's read keeps it for the reconcile, which releases it."""
    doc = {
        "api": {"effects": [{"kind": "order", "key": "a", "id": 1, "accepted_ns": T0, "finished_ns": T0 + 5}]}
    }
    from harness.measure import audit_legacy, audit_lines

    lines, legacy = _both_layouts(tmp_path, doc)
    for trial_dir, kept in ((lines, audit_lines._passes), (legacy, audit_legacy._tables)):
        arrays = read_work_arrays(trial_dir)
        assert arrays is not None and arrays.accepted_ns.tolist() == [T0]
        assert len(kept) == 1
        effects = read_keyed_effects(trial_dir, {"api": "api"}, read_ledger(shard_paths(trial_dir)))
        assert effects.unseen.to_pylist() == ["a"]  # no ledger here: the key was never ledgered
        assert not kept


def test_the_work_stamps_are_handed_over_once_and_read_again_if_asked(tmp_path: Path) -> None:
    """The kept parse drops the stamps once the operations view has them (not held twice); a second
    reader gets them from a fresh parse, never None (which means "not integer columns")."""
    from harness.measure import audit_lines

    doc = {"api": {"effects": [{"kind": "order", "key": "a", "id": 1, "accepted_ns": T0}]}}
    lines, _ = _both_layouts(tmp_path, doc)
    first, again = read_work_arrays(lines), read_work_arrays(lines)
    assert first is not None and again is not None
    assert first.accepted_ns.tolist() == again.accepted_ns.tolist() == [T0]
    (kept,) = audit_lines._passes.values()
    assert kept.work_taken and all(one.work is None for one in kept.passes)
    assert read_keyed_effects(lines, {"api": "api"}, read_ledger([])).unseen.to_pylist() == ["a"]
