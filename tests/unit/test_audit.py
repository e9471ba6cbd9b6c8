"""The audit contract: its published schema is current, and an audit that does not match it is an
infrastructure error naming the endpoint, the first offending path and the expected shape -
never read as "every acknowledged write lost"."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.errors import ExitCode, InfrastructureError
from harness.measure.audit import DOCS_SCHEMA, AuditSchemaError, outstanding, schema_text, validate_audit

REPO = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "effects": [
        {"kind": "order", "key": "k1", "id": "o-1", "value": 1250, "status": "confirmed"},
        {"kind": "charge", "key": "k1", "id": 7, "value": "12.50", "status": None, "extra": True},
        {"kind": "order", "key": "k2", "id": "o-2"},
    ],
    "pending": 2,
    "stats": {"calls": 3},
}


def test_published_schema_is_generated_from_the_model() -> None:
    assert DOCS_SCHEMA.read_text() == schema_text(), (
        "run: python -m harness.measure.audit > docs/audit-schema.json"
    )


def test_a_good_audit_validates_with_the_model_and_the_published_schema() -> None:
    audit = validate_audit(GOOD, "http://127.0.0.1:1/audit")
    assert [e.key for e in audit.effects] == ["k1", "k1", "k2"] and audit.pending == 2
    jsonschema.validate(GOOD, json.loads(schema_text()))


def test_the_worked_examples_in_the_docs_are_valid_audits() -> None:
    text = (REPO / "docs" / "audit.md").read_text()
    examples = re.findall(r"```json audit\n(.*?)```", text, flags=re.S)
    assert len(examples) >= 2
    for example in examples:
        validate_audit(json.loads(example), "docs/audit.md")


MALFORMED = [
    ({"pending": 0}, "effects", "Field required"),
    ({"effects": {"k1": {"kind": "order", "id": "o-1"}}}, "effects", "valid list"),
    ([{"kind": "order", "key": "k1", "id": 1}], "(the whole document)", "valid dictionary"),
    ({"effects": [{"kind": "order", "key": 17, "id": "o-1"}]}, "effects[0].key", "valid string"),
    ({"effects": [GOOD["effects"][0], {"kind": "order", "id": "o-2"}]}, "effects[1].key", "Field required"),
    ({"effects": [{"kind": "order", "key": "k", "id": None}]}, "effects[0].id", "string or an integer"),
    ({"effects": [{"kind": "order", "key": "k", "id": 1, "value": [1]}]}, "effects[0].value", "a number"),
    ({"effects": [{"kind": "order", "key": "k", "id": 1, "status": 3}]}, "effects[0].status", "a string"),
    ({"effects": [], "pending": "3"}, "pending", "valid integer"),
    ({"effects": [], "pending": -1}, "pending", "greater than or equal to 0"),
    ({"effects": [{"kind": "", "key": "k", "id": 1}]}, "effects[0].kind", "at least 1 character"),
]


@pytest.mark.parametrize(("doc", "path", "problem"), MALFORMED, ids=[m[1] + ":" + m[2] for m in MALFORMED])
def test_a_malformed_audit_names_endpoint_path_and_expected_shape(doc: Any, path: str, problem: str) -> None:
    with pytest.raises(AuditSchemaError) as info:
        validate_audit(doc, "http://127.0.0.1:9/audit")
    err = info.value
    assert isinstance(err, InfrastructureError) and err.exit_code == ExitCode.INFRASTRUCTURE
    assert err.path == path and problem in err.problem
    text = str(err)
    assert "http://127.0.0.1:9/audit" in text and f"at {path}:" in text
    assert '"effects": [{"kind": str, "key": str' in text  # the expected shape
    with pytest.raises(jsonschema.ValidationError):  # the published schema agrees
        jsonschema.validate(doc, json.loads(schema_text()))


def test_outstanding_work_counts_each_key_once() -> None:
    audit = validate_audit(
        {
            "effects": [
                {"kind": "order", "key": "a", "id": 1, "status": "pending"},
                {"kind": "order", "key": "a", "id": 2, "status": "reserved"},  # a duplicate, same unit
                {"kind": "order", "key": "b", "id": 3, "status": "pending"},
                {"kind": "order", "key": "b", "id": 4, "status": "confirmed"},  # b finished once
                {"kind": "charge", "key": "c", "id": 5, "status": "pending"},  # not the primary kind
            ],
            "pending": 1,
        },
        "x",
    )
    assert outstanding({"api": audit}, "order", "confirmed") == 2  # a, and one queued message
    assert outstanding({"api": audit}, None, None) == 1


# -- a finished run directory whose audit is malformed or has effects the ledger never saw ------
def _run_dir_with_audit(tmp_path: Path, audit: Any) -> Path:
    """The hand-made run of test_reports, with a consistency contract, keyed writes and an audit."""
    from harness.load.ledger import LedgerRecord, LedgerWriter
    from tests.unit.test_reports import make_run_dir

    run_dir = tmp_path / "20261121-120000-a0d1"
    make_run_dir(run_dir)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    started = json.loads(lines[0])
    started["consistency"] = {"write_ops": ["create"], "primary": "order", "final_status": "confirmed"}
    journal.write_text("\n".join([json.dumps(started), *lines[1:]]) + "\n")
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text().replace("expect:\n", "expect:\n  lost_writes: 0\n"))
    writer = LedgerWriter(run_dir / "trial-1" / "ledger-2.csv")
    t = started["t0_ns"] + 2_000_000_000
    for key in ("k1", "k2"):
        writer.write(LedgerRecord(key, "create", key, t, t + 1000, "ok", 201, 0.001, 1, "", "100"))
    writer.close()
    (run_dir / "trial-1" / "audit.json").write_text(json.dumps({"api": audit}))
    return run_dir


def test_a_run_with_a_malformed_audit_has_no_data_figures_and_says_why(tmp_path: Path) -> None:
    from harness.analysis import analyse_run

    run_dir = _run_dir_with_audit(tmp_path, {"effects": {"k1": "confirmed", "k2": "confirmed"}})
    results, _ = analyse_run(run_dir)
    assert results.trials[0].consistency is None  # not "2 lost"
    assert not [v for v in results.verdicts if v.fault == "data"]  # neither "2 lost" nor "no audit"
    assert not results.passed and results.exit_code() == ExitCode.INFRASTRUCTURE
    assert results.error is not None and "service 'api'" in results.error
    assert "at effects: Input should be a valid list" in results.error
    failure = results.trials[0].harness_failure
    assert failure is not None and failure.component == "audit"


def test_a_run_with_unledgered_effects_is_a_harness_error_with_the_keys(tmp_path: Path) -> None:
    from harness.analysis import analyse_run

    effects = [
        {"kind": "order", "key": k, "id": f"o-{k}", "value": 100, "status": "confirmed"}
        for k in ("k1", "k2", "k9")
    ]
    results, _ = analyse_run(_run_dir_with_audit(tmp_path, {"effects": effects, "pending": 0}))
    c = results.trials[0].consistency
    assert c is not None and (c.unledgered, c.unledgered_keys, c.lost) == (1, ["k9"], 0)
    (lost,) = [v for v in results.verdicts if v.expectation == "lost_writes"]
    assert lost.passed  # the figures stand; the run is still not passed: its ledger is incomplete
    assert results.error is not None and "1 unledgered effects, keys ['k9']" in results.error
    assert not results.passed and results.exit_code() == ExitCode.INFRASTRUCTURE


def test_aftershock_report_on_a_malformed_audit_exits_3_naming_the_audit(tmp_path: Path) -> None:
    from tests.conftest import aftershock

    run_dir = _run_dir_with_audit(tmp_path, {"effects": [{"kind": "order", "key": "k1"}]})
    proc = aftershock("report", str(run_dir))
    assert proc.returncode == ExitCode.INFRASTRUCTURE, proc.stdout + proc.stderr
    assert "at effects[0].id: Field required" in proc.stderr


def test_the_worked_example_in_the_docs_has_the_figures_the_docs_state() -> None:
    from harness.load.ledger import LedgerRecord
    from harness.measure.consistency import effects_of, reconcile

    text = (REPO / "docs" / "audit.md").read_text()
    example = re.findall(r"```json audit\n(.*?)```", text, flags=re.S)[-1]
    audit = validate_audit(json.loads(example), "docs/audit.md")
    outcomes = {"a": "ok", "b": "ok", "c": "ok", "d": "ok", "e": "indeterminate"}
    records = [
        LedgerRecord(k, "send_email", k, 0, 1, o, 202 if o == "ok" else 0, 1.0, 1, "", "")  # type: ignore[arg-type]
        for k, o in outcomes.items()
    ]
    c = reconcile(
        records,
        effects_of({"api": audit}),
        write_ops=["send_email"],
        primary="email",
        final_status="sent",
        pending=audit.pending,
    )
    figures = (c.duplicated, c.stuck, c.pending, c.lost, c.indeterminate_present, c.corrupted, c.phantom)
    assert figures == (1, 2, 1, 1, 1, 0, 0) and c.unledgered == 0
