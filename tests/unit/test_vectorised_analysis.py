"""The analysis on columns against the row-by-row code it replaced, on random ledgers and audits.

Oracles: the loop reconcile (tests/unit/consistency_oracle.py), ``failure_breakdown`` over
``read_records``, and ``validate_audit`` per source. The vectorised code must give the very same
figures, examples (and their order), failure groups, and the same error for a malformed audit.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.load.ledger import COLUMNS, LedgerRecord, LedgerWriter, read_records
from harness.measure.audit import AuditSchemaError, validate_audit
from harness.measure.audit_columns import (
    EffectColumns,
    effect_columns,
    read_effect_columns,
    read_keyed_effects,
)
from harness.measure.audit_store import write_audit
from harness.measure.columns import read_ledger
from harness.measure.consistency import Consistency, Effect, effects_of, reconcile, reconcile_columns
from harness.measure.failures import failure_breakdown
from harness.measure.keyed_effects import KeyedEffects
from harness.measure.trial_ledger import failure_breakdown_columns
from tests.unit.consistency_oracle import reconcile_simple

T0 = 10_000_000_000_000
KEYS = ["a", "b", "c", "d", "k10", "k9", "é", "Z", "a,b", 'q"uote']
OUTCOMES = ["ok", "fail", "indeterminate", "weird"]

record = st.builds(
    LedgerRecord,
    id=st.just("r"),
    op=st.sampled_from(["create", "create", "read", "refund"]),
    key=st.sampled_from(["", *KEYS]),
    start_ns=st.integers(T0, T0 + 5_000_000_000),
    end_ns=st.integers(T0, T0 + 10_000_000_000),
    outcome=st.sampled_from(OUTCOMES),
    status=st.sampled_from([0, 200, 201, 409, 503]),
    latency_ms=st.just(1.0),
    attempt=st.integers(1, 3),
    error=st.sampled_from(["", "ReadTimeout: timed out", "Connection refused", "boom,\nsecond line", " x "]),
    value=st.sampled_from(["", "100", "99", "12"]),
)
effect = st.builds(
    Effect,
    kind=st.sampled_from(["order", "order", "charge"]),
    key=st.sampled_from([*KEYS, "never-seen", "zz-never"]),
    value=st.sampled_from([None, "100", "99", "12"]),
    status=st.sampled_from([None, "confirmed", "pending"]),
    id=st.sampled_from(["o-1", "o-2", "7", "x"]),
)
contract = st.fixed_dictionaries(
    {
        "primary": st.sampled_from(["order", "charge", "nothing"]),
        "final_status": st.sampled_from([None, "confirmed"]),
        "pending": st.integers(0, 2),
        "write_ops": st.sampled_from([["create"], ["create", "refund"], []]),
    }
)


def _as_tuple(c: Consistency) -> tuple[dict[str, Any], list[str]]:
    return asdict(c), list(c.examples)  # the examples' order is what the reports print


@settings(max_examples=200, deadline=None)
@given(st.lists(record, max_size=30), st.lists(effect, max_size=30), contract)
def test_the_array_reconcile_matches_the_loop(
    records: list[LedgerRecord], effects: list[Effect], k: dict[str, Any]
) -> None:
    args = {"write_ops": k["write_ops"], "primary": k["primary"], "final_status": k["final_status"]}
    expected = reconcile_simple(records, effects, pending=k["pending"], **args)
    assert _as_tuple(reconcile(records, effects, pending=k["pending"], **args)) == _as_tuple(expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 3), st.integers(0, 3))
def test_many_damaged_keys_quote_the_first_five_in_key_order(dups: int, seed: int) -> None:
    """Past 20 candidates the examples are picked by Arrow's select-k, not by a Python sort."""
    keys = [f"k{(i * 7919 + seed) % 500:03d}" for i in range(60)]
    records = [
        LedgerRecord(f"r{i}", "create", key, 0, 1, "ok", 201, 1.0, 1, "", "100") for i, key in enumerate(keys)
    ]
    effects = [Effect("order", key, "99", "pending", f"o{n}") for key in keys[::2] for n in range(1 + dups)]
    args: dict[str, Any] = {"write_ops": ["create"], "primary": "order", "final_status": "confirmed"}
    expected = reconcile_simple(records, effects, **args)
    assert _as_tuple(reconcile(records, effects, **args)) == _as_tuple(expected)


def _write_shards(tmp: Path, records: list[LedgerRecord], shards: int, torn: bool, junk: bool) -> list[Path]:
    paths = []
    for s in range(shards):
        writer = LedgerWriter(tmp / f"ledger-{s}.csv")
        for r in records[s::shards]:
            writer.write(r)
        writer.close()
        paths.append(writer.path)
    if paths and junk:  # a row with too few and one with too many fields: skipped by both readers
        with paths[0].open("a", newline="", encoding="utf-8") as fh:
            fh.write("r-short,create,a,1,2\r\n")
            fh.write("r-long," + ",".join(["1"] * len(COLUMNS)) + "\r\n")
    if paths and torn:
        with paths[-1].open("a", encoding="utf-8") as fh:
            fh.write("r-torn,create,a,1,2,ok,201,1.0,1,,1")
    return paths


audit_doc = st.fixed_dictionaries(
    {
        "effects": st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["order", "charge"]),
                    "key": st.sampled_from([*KEYS, "never-seen"]),
                    "id": st.one_of(st.sampled_from(["o-1", "o-2"]), st.integers(0, 9)),
                },
                optional={
                    "value": st.one_of(
                        st.none(),
                        st.sampled_from(["100", "99"]),
                        st.sampled_from([100, 99, 12.0, 12.5, 2**70]),
                    ),
                    "status": st.sampled_from([None, "confirmed", "pending"]),
                    "accepted_ns": st.integers(0, 10),
                },
            ),
            max_size=12,
        )
    },
    optional={"pending": st.integers(0, 2), "stats": st.just({"calls": 3})},
)

BREAKAGES: list[tuple[str, Any]] = [
    ("effects", {"k1": "confirmed"}),
    ("pending", -1),
    ("pending", True),
    ("pending", 1.5),
    ("effect", "not an object"),
    ("kind", ""),
    ("kind", 7),
    ("key", None),
    ("id", True),
    ("id", 1.5),
    ("id", None),
    ("value", True),
    ("value", [1]),
    ("status", 3),
    ("drop", "kind"),
    ("drop", "id"),
    ("drop", "effects"),
]


def _break(doc: dict[str, Any], how: tuple[str, Any], at: int) -> object:
    field, bad = how
    doc = copy.deepcopy(doc)
    if field in ("effects", "pending"):
        doc[field] = bad
        return doc
    if field == "drop" and bad == "effects":
        del doc["effects"]
        return doc
    if not doc["effects"]:
        return [doc]  # not an object at all
    i = at % len(doc["effects"])
    if field == "effect":
        doc["effects"][i] = bad
    elif field == "drop":
        doc["effects"][i].pop(bad, None)
    else:
        doc["effects"][i][field] = bad
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(record, max_size=25),
    docs=st.dictionaries(st.sampled_from(["api", "payments"]), audit_doc, max_size=2),
    k=contract,
    shards=st.integers(1, 3),
    torn=st.booleans(),
    junk=st.booleans(),
    breakage=st.one_of(
        st.none(), st.tuples(st.sampled_from(["api", "payments"]), st.integers(0, 16), st.integers(0, 20))
    ),
)
def test_from_files_the_columns_give_what_records_and_models_gave(
    records: list[LedgerRecord],
    docs: dict[str, Any],
    k: dict[str, Any],
    shards: int,
    torn: bool,
    junk: bool,
    breakage: tuple[str, int, int] | None,
) -> None:
    """The whole path from files: shards (torn last line, wrong-length rows, quoted newlines) and
    audit documents as the trial keeps them (a line per effect; and the older ``audit.json``),
    valid or broken in one place."""
    if breakage is not None and breakage[0] in docs:
        svc, which, at = breakage
        docs[svc] = _break(docs[svc], BREAKAGES[which], at)
    docs = json.loads(json.dumps(docs))  # as read back from the kept audit
    endpoints = {svc: f"service {svc!r} (audit)" for svc in docs}
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_shards(Path(tmp), records, shards, torn, junk)
        write_audit(Path(tmp), docs)  # as the harness keeps it
        legacy = Path(tmp) / "legacy"
        legacy.mkdir()
        (legacy / "audit.json").write_text(json.dumps(docs, indent=1))  # as older runs kept it
        rows = list(read_records(paths))
        try:
            audits = {svc: validate_audit(doc, endpoints[svc]) for svc, doc in docs.items()}
        except AuditSchemaError as exc:
            for read in (
                lambda: effect_columns(docs, endpoints),
                lambda: read_effect_columns(Path(tmp), endpoints),
                lambda: read_effect_columns(legacy, endpoints),
                lambda: read_keyed_effects(Path(tmp), endpoints, read_ledger(paths)),
                lambda: read_keyed_effects(legacy, endpoints, read_ledger(paths)),
            ):
                with pytest.raises(AuditSchemaError) as got:
                    read()
                assert str(got.value) == str(exc)
            return
        columns = effect_columns(docs, endpoints)
        from_file = read_effect_columns(Path(tmp), endpoints)
        assert _lists(from_file) == _lists(columns) == _lists_of(effects_of(audits), audits)
        assert _lists(read_effect_columns(legacy, endpoints)) == _lists(columns)
        ledger = read_ledger(paths)
        assert ledger.key.to_pylist() == [r.key for r in rows]
        assert ledger.end_ns.tolist() == [r.end_ns for r in rows]
        assert ledger.error.to_pylist() == [r.error for r in rows]
        pending = sum(a.pending for a in audits.values())
        assert columns.pending == pending
        args = {"write_ops": k["write_ops"], "primary": k["primary"], "final_status": k["final_status"]}
        expected = reconcile_simple(rows, effects_of(audits), pending=pending, **args)
        assert _as_tuple(reconcile_columns(ledger, columns, **args)) == _as_tuple(expected)
        for trial_dir in (Path(tmp), legacy):  # as a run reads them: keyed, never held as text
            fx = read_keyed_effects(trial_dir, endpoints, ledger)
            assert _keyed_lists(fx, ledger) == _lists(columns)
            assert _as_tuple(reconcile_columns(ledger, fx, **args)) == _as_tuple(expected)
        windows = [("down@a->b", 1.0, 4.0), ("latency@a->c", 3.0, None)]
        assert failure_breakdown_columns(ledger, T0, windows) == failure_breakdown(rows, T0, windows)


def _lists(c: EffectColumns) -> tuple[list[Any], ...]:
    return (
        c.kind.to_pylist(),
        c.key.to_pylist(),
        c.value.to_pylist(),
        c.status.to_pylist(),
        c.id.to_pylist(),
        [c.pending],
    )


def _keyed_lists(k: KeyedEffects, ledger: Any) -> tuple[list[Any], ...]:
    """The keyed effects back as text lists (keys from the ledger rows, ids described again)."""
    unseen = iter(k.unseen.to_pylist())
    keys = [ledger.key[r].as_py() if r >= 0 else next(unseen) for r in k.row.tolist()]
    described = k.describe(range(len(k)))
    return (
        [k.kinds[c] for c in k.kind.tolist()],
        keys,
        k.value.to_pylist(),
        [k.statuses[c] if c >= 0 else None for c in k.status.tolist()],
        [d[0] for d in described],
        [k.pending],
    )


def _lists_of(effects: list[Effect], audits: dict[str, Any]) -> tuple[list[Any], ...]:
    pending = sum(a.pending for a in audits.values())
    return (
        *tuple([getattr(e, f) for e in effects] for f in ("kind", "key", "value", "status", "id")),
        [pending],
    )


def test_an_empty_audit_and_an_empty_ledger() -> None:
    args: dict[str, Any] = {"write_ops": ["create"], "primary": "order", "final_status": "confirmed"}
    lone = [LedgerRecord("r", "create", "a", 0, 1, "ok", 201, 1.0, 1, "", "100")]
    for records, effects in (([], []), (lone, []), ([], [Effect("order", "a", "1", "confirmed", "o")])):
        assert _as_tuple(reconcile(records, effects, pending=1, **args)) == _as_tuple(
            reconcile_simple(records, effects, pending=1, **args)
        )
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "ledger-1.csv"
        empty.write_text("")
        headless = Path(tmp) / "ledger-2.csv"
        headless.write_text("id,op,key")  # not even a complete header line
        ledger = read_ledger([empty, headless])
        assert len(ledger) == 0
        assert failure_breakdown_columns(ledger, 0, []).failed == 0
    assert len(effect_columns({}, {})) == 0


def test_an_orders_audit_is_read_by_arrow_not_by_json_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is the one a real audit takes (mixed int/float values, int and str ids, an
    empty source); json.loads is only the fallback, so it must not be reached here."""
    import harness.measure.audit as audit

    docs = {
        "api": {
            "effects": [
                {
                    "kind": "order",
                    "key": "a",
                    "id": "1",
                    "value": 100,
                    "status": "confirmed",
                    "accepted_ns": 5,
                },
                {"kind": "order", "key": "b", "id": "2", "value": 12.5, "status": None},
                {"kind": "order", "key": "c", "id": "3"},
            ],
            "pending": 1,
        },
        "payments": {
            "effects": [{"kind": "charge", "key": "a", "id": 7, "value": 100}],
            "stats": {"calls": 2},
        },
        "mail": {"effects": []},
    }
    loads = json.loads

    def no_effects(text: Any, *args: Any, **kwargs: Any) -> Any:  # a source's first line may be
        if b'"kind"' in (text if isinstance(text, bytes) else text.encode()):
            pytest.fail("effects read with json.loads")
        return loads(text, *args, **kwargs)

    for layout in ("lines", "audit.json"):
        with tempfile.TemporaryDirectory() as tmp:
            if layout == "lines":
                write_audit(Path(tmp), docs)
            else:
                (Path(tmp) / "audit.json").write_text(json.dumps(docs, indent=1))
            with monkeypatch.context() as m:
                m.setattr(audit.json, "loads", no_effects)
                fx = read_keyed_effects(Path(tmp), {}, read_ledger([]))
                assert fx.value.to_pylist() == ["100", "12.5", None, "100"]
                assert [fx.statuses[c] if c >= 0 else None for c in fx.status.tolist()] == [
                    "confirmed",
                    None,
                    None,
                    None,
                ]
                assert fx.pending == 1 and fx.unseen.to_pylist() == ["a", "b", "c", "a"]
            assert [d[0] for d in fx.describe(range(4))] == ["1", "2", "3", "7"]  # quoted: read again


def test_a_shard_rewritten_in_place_is_read_anew() -> None:
    """The one read is kept for the trial's other figures, never across a rewrite of the file, even
    one of the same size within one tick of the file system's clock (tests rewrite shards so)."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = [LedgerRecord("r1", "create", "a", T0, T0 + 1, "ok", 201, 1.0, 1, "", "100")]
        (path,) = _write_shards(Path(tmp), rows, 1, torn=False, junk=False)
        stamp = path.stat().st_mtime_ns
        assert read_ledger([path]).key.to_pylist() == ["a"]
        path.write_bytes(path.read_bytes().replace(b",a,", b",b,"))  # same size, same inode
        os.utime(path, ns=(stamp, stamp))
        assert read_ledger([path]).key.to_pylist() == ["b"]


@pytest.mark.parametrize(
    "effects",
    [
        # ids change type between blocks: Arrow fixed the type on the first block
        [{"kind": "order", "key": f"k{i}", "id": i if i < 20 else f"o{i}", "value": i} for i in range(40)],
        # a status that is null in the first block, text later
        [{"kind": "order", "key": f"k{i}", "id": i, "status": None if i < 20 else "done"} for i in range(40)],
        # a field that first appears in a later block
        [{"kind": "order", "key": f"k{i}", "id": i, **({"value": 5} if i > 30 else {})} for i in range(40)],
        # a broken effect in a later block: the model names it
        [
            {"kind": "order", "key": f"k{i}", "id": i} if i != 33 else {"kind": "", "key": "x", "id": 1}
            for i in range(40)
        ],
    ],
)
def test_an_audit_read_in_many_blocks_reads_as_one_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, effects: list[dict[str, Any]]
) -> None:
    """Arrow reads the lines block by block and fixes the columns' types on the first block; a
    later block that does not fit leaves the source to the JSON path, with the same result."""
    from harness.measure import audit_lines

    monkeypatch.setattr(audit_lines, "BLOCK", 256)  # a few lines per block
    docs = {"api": {"effects": effects, "pending": 3}}
    write_audit(tmp_path, docs)
    endpoints = {"api": "service 'api' (audit)"}
    try:
        expected = effect_columns(docs, endpoints)
    except AuditSchemaError as exc:
        with pytest.raises(AuditSchemaError) as got:
            read_effect_columns(tmp_path, endpoints)
        assert str(got.value) == str(exc)
        return
    assert _lists(read_effect_columns(tmp_path, endpoints)) == _lists(expected)
