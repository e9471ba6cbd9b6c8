"""Health kinds in target.yaml: exactly one kind, and errors that say which kinds exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.scenario.loader import load_target
from harness.scenario.target import HEALTH_KINDS, Health, Target


@pytest.mark.parametrize(
    "data",
    [
        {"http": "/health"},
        {"tcp": True},
        {"process": True, "alive_for": "2s"},
        {"log": "ready"},
        {"command": ["true"]},
    ],
)
def test_each_kind_alone_is_valid(data: dict[str, object]) -> None:
    assert Health.model_validate(data).kind == next(iter(data))


@pytest.mark.parametrize("data", [{}, {"http": "/h", "log": "x"}, {"tcp": True, "process": True}])
def test_none_or_two_kinds_name_every_kind(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as err:
        Health.model_validate(data)
    assert all(kind in str(err.value) for kind in HEALTH_KINDS)


def test_a_log_health_must_be_a_regex() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        Health.model_validate({"log": "ready ("})


def test_a_missing_health_says_which_kinds_exist(tmp_path: Path) -> None:
    (tmp_path / "target.yaml").write_text(
        "name: t\nentrypoint: api\nservices:\n  api:\n    command: [python3, api.py]\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_target(tmp_path)
    text = str(err.value)
    assert "services.api" in text and all(kind in text for kind in HEALTH_KINDS)


def test_a_compose_target_needs_no_command_or_health() -> None:
    target = Target.model_validate(
        {
            "name": "t",
            "entrypoint": "api",
            "compose": "compose.yaml",
            "services": {"worker": {"health": {"log": "up"}}},
        }
    )
    assert target.services["worker"].command is None


def test_without_compose_a_command_is_required() -> None:
    with pytest.raises(ValidationError, match="needs `command"):
        Target.model_validate(
            {"name": "t", "entrypoint": "api", "services": {"api": {"health": {"tcp": True}}}}
        )
