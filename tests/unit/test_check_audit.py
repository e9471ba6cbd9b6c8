"""`aftershock target check` reads an audit and says exactly what breaks the contract."""

from __future__ import annotations

from harness.check import audit_problems


def test_a_conforming_audit_has_no_problem() -> None:
    doc = {
        "effects": [{"kind": "order", "key": "k1", "value": "12", "status": "confirmed", "id": "1"}],
        "pending": 0,
    }
    assert audit_problems("api", doc) == []


def test_missing_fields_are_named_with_the_contract() -> None:
    (problem,) = audit_problems("api", {"effects": [{"kind": "order", "key": "k1"}], "pending": 0})
    assert "effects[0] lacks value, status, id" in problem and "kind, key, value, status, id" in problem


def test_wrong_shapes() -> None:
    assert "not a JSON object" in audit_problems("api", [1, 2])[0]
    assert "`effects` must be a list" in audit_problems("api", {"effects": {}, "pending": 0})[0]
    assert "`pending` must be an integer" in audit_problems("api", {"effects": [], "pending": "x"})[0]
