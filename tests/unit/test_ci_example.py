"""The CI example only uses commands and files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "github-actions-rehearsals.yml"


def aftershock_commands() -> list[list[str]]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    runs = [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]
    found = []
    for text in runs:
        for line in text.splitlines():
            m = re.search(r"\.venv/bin/aftershock (.*)", line)
            if m:
                found.append(shlex.split(m.group(1)))
    return found


def test_every_aftershock_command_in_the_example_is_real() -> None:
    commands = aftershock_commands()
    assert {c[0] for c in commands} >= {"validate", "run", "cleanup"}
    for argv in commands:
        result = CliRunner().invoke(main, [argv[0], "--help"])
        assert result.exit_code == 0, f"aftershock {argv[0]}: {result.output}"
        for arg in argv[1:]:
            if arg.endswith(".yaml"):
                assert (REPO / arg).is_file(), arg


def test_the_example_cleans_up_only_its_own_runs() -> None:
    """A shared runner hosts other jobs' live rehearsals: `cleanup --all` alone would stop them."""
    cleanups = [argv for argv in aftershock_commands() if argv[0] == "cleanup"]
    assert cleanups
    for argv in cleanups:
        assert "--run" in argv, f"unscoped: aftershock {' '.join(argv)}"
    options = CliRunner().invoke(main, ["cleanup", "--help"]).output
    assert "--run RUN_ID" in options and "--dry-run" in options
