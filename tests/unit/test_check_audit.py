"""`aftershock target check` checks each audit against the published audit contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.check import audit_problems

if TYPE_CHECKING:
    from harness.scenario.target import Target


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


def _target(**extra: object) -> Target:
    from harness.scenario.target import Target

    return Target.model_validate(
        {
            "name": "jobsys",
            "compose": "compose.yaml",
            "entrypoint": "front",
            "links": ["front->store"],
            **extra,
        }
    )


def test_a_target_with_no_audit_gets_a_hint_that_points_at_the_audit_docs() -> None:
    """A newcomer's worker crash showed "NO EFFECT OBSERVED" and a green PASS: nothing had told
    them that without an audit a worker's fault cannot be seen."""
    from harness.check import CheckReport, target_hints

    (hint,) = target_hints(_target())
    assert hint.startswith("no audit: faults on workers will show no effect on the requests")
    assert "docs/audit.md" in hint
    rendered = CheckReport("jobsys", "compose", hints=[hint]).render()
    assert f"HINT: {hint}" in rendered and rendered.splitlines()[0].endswith("OK (0.0s)")
    assert target_hints(_target(audit="/audit")) == []
