"""What every scenario rule reads: the scenario, its YAML (for lines), its target and backend.

Its own module so that rule sets kept apart (the limits rules) name it without importing
:mod:`harness.scenario.checks`, which runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import Problem
from harness.scenario.models import Scenario
from harness.scenario.target import Target
from harness.scenario.yamlsource import Path_, YamlDocument, fmt_path


@dataclass(frozen=True)
class ScenarioContext:
    scenario: Scenario
    doc: YamlDocument
    target: Target
    target_dir: Path
    backend: str
    target_doc: YamlDocument

    def problem(self, where: Path_, message: str, value: object, fix: str) -> Problem:
        return Problem(self.doc.file, fmt_path(where), message, value, self.doc.line(where), fix)

    @property
    def doc_dir(self) -> Path:
        """Where the scenario lives: a rollback command runs from there."""
        return Path(self.doc.file).resolve().parent

    @property
    def links_fix(self) -> str:
        return f"links are: {', '.join(self.target.links) or 'none'}"

    @property
    def services_fix(self) -> str:
        return f"services are: {', '.join(self.target.services)}"
