"""The readiness poll: cheap probes start fast and back off to POLL; command probes stay at POLL."""

from __future__ import annotations

import itertools

import pytest

from harness.scenario.target import Health
from harness.targets.health import POLL, poll_delays


@pytest.mark.parametrize("data", [{"http": "/health"}, {"tcp": True}, {"log": "ready"}, {"process": True}])
def test_cheap_probes_ramp_from_10_ms_to_poll(data: dict[str, object]) -> None:
    delays = list(itertools.islice(poll_delays(Health.model_validate(data)), 8))
    assert delays == [0.01, 0.02, 0.04, 0.08, POLL, POLL, POLL, POLL]


def test_a_command_probe_keeps_the_fixed_poll() -> None:
    delays = list(itertools.islice(poll_delays(Health.model_validate({"command": ["true"]})), 5))
    assert delays == [POLL] * 5
