"""The shipped scenario JSON Schema is current and agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.scenario.schema import PACKAGED, schema_text

REPO = Path(__file__).resolve().parents[2]


def test_shipped_schema_is_generated_from_the_models() -> None:
    assert PACKAGED.read_text() == schema_text(), (
        "run: aftershock schema --write harness/schema/scenario.schema.json"
    )
    assert (REPO / "docs" / "scenario.schema.json").read_text() == schema_text()


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates_against_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(schema_text()))


@pytest.mark.parametrize(
    "name",
    [
        "unknown-field.yaml",
        "unknown-fault-kind.yaml",
        "bad-duration.yaml",
        "missing-target.yaml",
        "unknown-fault-field.yaml",
    ],
)
def test_broken_scenarios_are_rejected_by_the_schema_too(name: str) -> None:
    doc = yaml.safe_load((REPO / "tests" / "fixtures" / "scenarios" / "broken" / name).read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(schema_text()))


def test_shipped_results_schema_is_generated_from_the_results_model() -> None:
    from harness.results import schema_text as results_schema_text

    assert (REPO / "docs" / "results-schema.json").read_text() == results_schema_text(), (
        "run: aftershock schema --results --write docs/results-schema.json"
    )
