"""Pure pieces: verdict judgement, teardown ordering, start order, request classification, reaper tokens."""

from __future__ import annotations

import pytest

from harness.measure.recovery import FaultMeasurement
from harness.measure.verdicts import judge_fault
from harness.reaper import owner_alive, owner_token
from harness.scenario.models import Expectations
from harness.teardown import Teardown


def measurement(**kw: object) -> FaultMeasurement:
    base: dict[str, object] = dict(
        injected_at=10.0,
        cleared_at=20.0,
        time_to_impact=0.5,
        impact_at=10.5,
        recovered_at=22.0,
        recovery_time=2.0,
        recovered=True,
        outage=11.5,
        resolution={"time_to_impact": 0.1, "recovered_at": 0.1, "recovery_time": 0.1, "outage": 0.2},
        error_rate_during_fault=0.5,
        requests_during_fault=100,
    )
    base.update(kw)
    return FaultMeasurement(**base)  # type: ignore[arg-type]


def test_verdicts_pass_and_fail_with_margins() -> None:
    expect = Expectations.model_validate({"recovery_time": "<= 5s", "error_rate_during_fault": "<= 0.1"})
    by = {v.expectation: v for v in judge_fault(expect, 1, "f", measurement())}
    assert by["recovery_time"].passed and by["recovery_time"].margin == pytest.approx(3)
    assert not by["error_rate_during_fault"].passed and by["error_rate_during_fault"].margin == pytest.approx(
        -0.4
    )


def test_not_recovered_fails_any_recovery_bound_and_recovered_true() -> None:
    expect = Expectations.model_validate({"recovery_time": "<= 1h", "recovered": True})
    m = measurement(recovered=False, recovered_at=None, recovery_time=None)
    by = {v.expectation: v for v in judge_fault(expect, 1, "f", m)}
    assert not by["recovery_time"].passed and by["recovery_time"].measured_text == "not recovered"
    assert not by["recovered"].passed


def test_never_impacted_is_an_infinite_time_to_impact() -> None:
    m = measurement(time_to_impact=None, impact_at=None)
    (late,) = judge_fault(Expectations.model_validate({"time_to_impact": ">= 2s"}), 1, "f", m)
    (early,) = judge_fault(Expectations.model_validate({"time_to_impact": "<= 2s"}), 1, "f", m)
    assert late.passed and not early.passed
    assert late.measured_text == "never impacted" and late.margin is None


def test_silence_during_a_fault_misses_an_error_rate_bound() -> None:
    m = measurement(error_rate_during_fault=None, requests_during_fault=0)
    (v,) = judge_fault(Expectations.model_validate({"error_rate_during_fault": "<= 0.5"}), 1, "f", m)
    assert not v.passed and v.measured_text == "no completed request"


def test_teardown_runs_every_step_newest_first_and_raises_all_failures() -> None:
    ran: list[str] = []

    def fail(name: str) -> None:
        ran.append(name)
        raise RuntimeError(name)

    td = Teardown()
    td.callback("a", lambda: ran.append("a"))
    td.callback("b", lambda: fail("b"))
    td.callback("c", lambda: fail("c"))
    with pytest.raises(ExceptionGroup) as info:
        td.close()
    assert ran == ["c", "b", "a"]
    assert [str(e) for e in info.value.exceptions] == ["c", "b"]
    td.close()  # nothing runs twice


def test_start_order_follows_links_and_dependencies() -> None:
    from harness.scenario.target import Target

    t = Target.model_validate(
        {
            "name": "t",
            "entrypoint": "api",
            "links": ["api->db", "worker->db", "worker->pay"],
            "services": {
                name: {"command": ["x"], "health": {"tcp": True}} for name in ("api", "worker", "db", "pay")
            },
        }
    )
    order = t.start_order()
    assert order.index("db") < order.index("api") and order.index("pay") < order.index("worker")


def test_owner_tokens() -> None:
    assert owner_alive(owner_token())
    assert not owner_alive("999999999:1")
    assert not owner_alive("garbage")


def test_request_classification() -> None:
    from harness.load.outcome import classify

    assert classify(201, None, True) == "ok"
    assert classify(409, None, True) == "fail"
    assert classify(503, None, True) == "indeterminate"
    assert classify(302, None, True) == "indeterminate"
    assert classify(0, ConnectionRefusedError(), False) == "fail"  # nothing sent
    assert classify(0, TimeoutError(), False) == "fail"  # connect timeout: nothing sent
    assert classify(0, TimeoutError(), True) == "indeterminate"  # read timeout after sending
    assert classify(0, ConnectionResetError(), True) == "indeterminate"


def test_a_zombie_owner_is_dead() -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = owner_token(child.pid)
    assert owner_alive(token)
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.2)  # not reaped yet: a zombie
    try:
        assert not owner_alive(token)
    finally:
        child.wait()
