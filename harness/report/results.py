"""``results.json``: the machine-readable outcome of a run, schema-versioned, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.files import atomic_write_text

SCHEMA = "aftershock/results/v1"


def write_results(path: Path, results: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(results, indent=2, default=str) + "\n")
