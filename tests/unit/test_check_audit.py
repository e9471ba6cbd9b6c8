"""`aftershock target check` checks each audit against the published audit contract."""

from __future__ import annotations

from harness.check import audit_problems


def test_a_conforming_audit_has_no_problem() -> None:
    doc = {
        "effects": [{"kind": "order", "key": "k1", "value": "12", "status": "confirmed", "id": "1"}],
        "pending": 0,
    }
    assert audit_problems("http://x/audit", doc) == []


def test_a_problem_names_the_endpoint_the_path_and_the_expected_shape() -> None:
    (problem,) = audit_problems("http://x/audit", {"effects": [{"kind": "order", "id": "1"}], "pending": 0})
    assert "http://x/audit" in problem and "effects[0].key" in problem and "expected:" in problem


def test_wrong_shapes() -> None:
    assert audit_problems("e", [1, 2])
    assert "effects" in audit_problems("e", {"effects": {}, "pending": 0})[0]
    assert "pending" in audit_problems("e", {"effects": [], "pending": -1})[0]
