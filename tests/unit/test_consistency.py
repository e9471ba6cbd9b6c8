"""Reconciliation of ledger and audit against DESIGN.md's definitions, with known answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.ledger import LedgerRecord, Outcome
from harness.measure.consistency import Effect, reconcile


def rec(key: str, outcome: Outcome, value: str = "100", attempt: int = 1, op: str = "create") -> LedgerRecord:
    return LedgerRecord(
        id=f"{key}-{attempt}",
        op=op,
        key=key,
        start_ns=0,
        end_ns=1,
        outcome=outcome,
        status=200 if outcome == "ok" else 503,
        latency_ms=1.0,
        attempt=attempt,
        error="",
        value=value,
    )


def order(key: str, value: str = "100", status: str = "confirmed", n: int = 1) -> Effect:
    return Effect("order", key, value, status, f"o-{key}-{n}")


def run(records: list[LedgerRecord], effects: list[Effect], pending: int = 0):  # type: ignore[no-untyped-def]
    return reconcile(
        records, effects, write_ops=["create"], primary="order", final_status="confirmed", pending=pending
    )


def test_everything_accounted_for() -> None:
    c = run([rec("a", "ok"), rec("b", "ok")], [order("a"), order("b")])
    assert (c.acknowledged, c.lost, c.duplicated, c.corrupted, c.phantom, c.stuck) == (2, 0, 0, 0, 0, 0)


def test_acknowledged_but_absent_is_lost() -> None:
    c = run([rec("a", "ok"), rec("b", "ok")], [order("a")])
    assert c.lost == 1 and c.examples["lost"] == ["b"]


def test_two_effects_for_one_key_is_a_duplicate_of_any_kind() -> None:
    charges = [Effect("charge", "a", "100", "captured", "c1"), Effect("charge", "a", "100", "captured", "c2")]
    c = run([rec("a", "ok")], [order("a"), order("a", n=2), *charges])
    assert c.duplicated == 2  # two orders, and separately two charges
    assert any("2 charges" in e for e in c.examples["duplicated"])


def test_a_different_value_is_corrupted() -> None:
    c = run([rec("a", "ok", value="656115")], [order("a", value="656114")])
    assert c.corrupted == 1 and "656114" in c.examples["corrupted"][0]


def test_definitely_failed_but_present_is_phantom() -> None:
    c = run([rec("a", "fail")], [order("a")])
    assert c.phantom == 1 and c.lost == 0


def test_indeterminate_is_never_lost() -> None:
    c = run([rec("a", "indeterminate"), rec("b", "indeterminate")], [order("b")])
    assert c.lost == 0 and c.phantom == 0
    assert (c.indeterminate_present, c.indeterminate_absent) == (1, 1)


def test_a_retry_that_succeeded_makes_the_op_acknowledged() -> None:
    c = run([rec("a", "indeterminate"), rec("a", "ok", attempt=2)], [order("a")])
    assert c.acknowledged == 1 and c.indeterminate == 0 and c.writes == 1


def test_unfinished_primary_effects_are_stuck() -> None:
    c = run([rec("a", "ok"), rec("b", "ok")], [order("a", status="pending"), order("b")])
    assert c.stuck == 1 and c.examples["stuck"] == ["a: order o-a-1 is 'pending'"]


def test_stuck_counts_each_unit_of_work_once_effects_and_pending_together() -> None:
    """One figure (DESIGN.md): an unfinished effect is one unit, and `pending` adds the units the
    target reports only as a count (no effect yet); the verdict judges that same figure."""
    from harness.measure.verdicts import judge_consistency
    from harness.scenario.models import Expectations

    records = [rec("a", "ok"), rec("b", "ok"), rec("c", "ok")]
    c = run(records, [order("a", status="pending"), order("b")], pending=1)
    assert (c.stuck, c.pending) == (2, 1)  # a (an unfinished effect) and one queued message
    (verdict,) = judge_consistency(Expectations.model_validate({"stuck": "== 0"}), 1, c)
    assert verdict.measured == 2  # not 3: pending is not added a second time


def test_a_key_with_two_unfinished_effects_is_one_stuck_unit() -> None:
    c = run([rec("a", "ok")], [order("a", status="pending"), order("a", status="reserved", n=2)])
    assert c.stuck == 1 and c.duplicated == 1


def test_an_effect_whose_key_the_ledger_never_saw_is_unledgered() -> None:
    """Never silently ignored: the figure, and the keys to go and look for."""
    charge = Effect("charge", "zz", "100", "captured", "c1")
    c = run([rec("a", "ok")], [order("a"), order("zz"), order("yy"), charge])
    assert c.unledgered == 3 and c.unledgered_keys == ["yy", "zz"]
    assert c.examples["unledgered"] == ["yy", "zz"]
    assert (c.lost, c.writes) == (0, 1)


def test_a_key_seen_on_any_ledger_row_is_ledgered() -> None:
    c = run([rec("a", "ok", op="read")], [order("a")])
    assert c.unledgered == 0


def test_a_value_the_target_does_not_record_is_not_compared() -> None:
    c = run([rec("a", "ok", value="100")], [Effect("order", "a", None, "confirmed", "o1")])
    assert c.corrupted == 0


def test_other_ops_are_ignored() -> None:
    c = run([rec("a", "ok", op="read")], [])
    assert c.writes == 0 and c.lost == 0


OP = st.fixed_dictionaries(
    {
        "outcome": st.sampled_from(["ok", "fail", "indeterminate"]),
        "applied": st.integers(0, 2),  # how many times the system applied it
        "corrupt": st.booleans(),
        "finished": st.booleans(),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OP, max_size=40))
def test_counts_match_a_model_of_the_system(ops: list[dict[str, object]]) -> None:
    records, effects = [], []
    expect = {"lost": 0, "duplicated": 0, "corrupted": 0, "phantom": 0, "stuck": 0, "ind_absent": 0}
    for i, op in enumerate(ops):
        key, outcome, applied = f"k{i}", str(op["outcome"]), int(op["applied"])  # type: ignore[call-overload]
        records.append(rec(key, outcome, value="100"))  # type: ignore[arg-type]
        value = "99" if op["corrupt"] else "100"
        status = "confirmed" if op["finished"] else "pending"
        effects += [order(key, value=value, status=status, n=n) for n in range(applied)]
        if outcome == "ok" and applied == 0:
            expect["lost"] += 1
        if outcome == "fail" and applied:
            expect["phantom"] += 1
        if outcome == "indeterminate" and applied == 0:
            expect["ind_absent"] += 1
        expect["duplicated"] += applied > 1
        expect["corrupted"] += bool(applied and op["corrupt"])
        expect["stuck"] += bool(applied and not op["finished"])
    c = run(records, effects)
    assert (c.lost, c.duplicated, c.corrupted, c.phantom, c.stuck, c.indeterminate_absent) == tuple(
        expect.values()
    )
    assert c.lost <= c.acknowledged  # indeterminate ops never count as lost
