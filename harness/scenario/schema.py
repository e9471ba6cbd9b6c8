"""The scenario JSON Schema, generated from the very models ``aftershock validate`` uses.

Shipped in the package (``harness/schema/scenario.schema.json``) and in ``docs/`` so editors can
autocomplete scenario files (``# yaml-language-server: $schema=...``) and CI can check them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.scenario.models import Scenario

SCHEMA_ID = "https://aftershock.invalid/schema/scenario.schema.json"
PACKAGED = Path(__file__).resolve().parent.parent / "schema" / "scenario.schema.json"


def scenario_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(mode="validation")
    # the loader accepts `target: orders` as well as the mapping
    schema["properties"]["target"] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/TargetRef"}]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "aftershock scenario"
    schema["description"] = (
        "A failure rehearsal: target, load, SLO, fault timeline, rollback and expectations."
    )
    return schema


def schema_text() -> str:
    return json.dumps(scenario_schema(), indent=2, sort_keys=True) + "\n"
