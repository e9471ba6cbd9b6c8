"""The one Resource base: a failed start is undone, its error kept; the shared readiness loop."""

from __future__ import annotations

import pytest

from harness.errors import InfrastructureError
from harness.resource import Resource, start_or_undo, wait_until_ready


class FakeResource(Resource):
    """Records its calls; ``start`` / ``stop`` fail when told to."""

    def __init__(self, start_fails: BaseException | None = None, stop_fails: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.start_fails = start_fails
        self.stop_fails = stop_fails

    def start(self) -> None:
        self.calls.append("start")
        if self.start_fails is not None:
            raise self.start_fails

    def stop(self) -> None:
        self.calls.append("stop")
        if self.stop_fails is not None:
            raise self.stop_fails


def test_a_started_resource_is_stopped_on_exit() -> None:
    res = FakeResource()
    with res as entered:
        assert entered is res
        assert res.calls == ["start"]
    assert res.calls == ["start", "stop"]


def test_a_failing_start_is_undone_and_its_error_kept() -> None:
    res = FakeResource(start_fails=InfrastructureError("port taken"))
    with pytest.raises(InfrastructureError, match="port taken"), res:
        raise AssertionError("the body must not run")
    assert res.calls == ["start", "stop"]


def test_an_interrupt_during_start_is_undone_too() -> None:
    res = FakeResource(start_fails=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        res.__enter__()
    assert res.calls == ["start", "stop"]


def test_a_failing_stop_after_a_failed_start_does_not_mask_the_first_error() -> None:
    res = FakeResource(
        start_fails=InfrastructureError("image build failed"), stop_fails=OSError("engine gone")
    )
    with pytest.raises(InfrastructureError, match="image build failed") as info:
        res.__enter__()
    assert res.calls == ["start", "stop"]
    assert info.value.__notes__ == ["undoing the partial start also failed: engine gone"]


def test_start_or_undo_serves_a_backend_that_names_its_steps_otherwise() -> None:
    calls: list[str] = []
    with pytest.raises(ValueError, match="no network"):
        start_or_undo(
            lambda: (calls.append("prepare"), _raise(ValueError("no network"))),
            lambda: calls.append("stop_all"),
        )
    assert calls == ["prepare", "stop_all"]


def _raise(exc: BaseException) -> None:
    raise exc


def test_readiness_returns_the_probes_answer() -> None:
    answers = iter([None, None, 42])
    got = wait_until_ready(
        lambda: next(answers), died=lambda: None, timeout=10, timed_out=lambda: AssertionError(), poll=0
    )
    assert got == 42


def test_readiness_says_how_it_died_before_asking_again() -> None:
    probes: list[int] = []
    looks = iter([None, InfrastructureError("exited at start (code 1)")])

    def probe() -> int | None:
        probes.append(1)
        return None

    with pytest.raises(InfrastructureError, match="exited at start"):
        wait_until_ready(
            probe, died=lambda: next(looks), timeout=10, timed_out=lambda: AssertionError(), poll=0
        )
    assert probes == [1]  # the second look found it dead: not probed again


def test_readiness_gives_up_with_the_callers_error() -> None:
    with pytest.raises(InfrastructureError, match="not ready within 0s"):
        wait_until_ready(
            lambda: None,
            died=lambda: None,
            timeout=0,
            timed_out=lambda: InfrastructureError("not ready within 0s"),
            poll=0,
        )


def test_every_teardown_step_runs_and_the_failures_are_raised_together() -> None:
    from harness.resource import Steps

    ran: list[str] = []
    step = Steps(ignore=(FileNotFoundError,))
    step("stop a", lambda: (ran.append("a"), _raise(OSError("engine gone"))))
    step("remove b", lambda: (ran.append("b"), _raise(FileNotFoundError("already gone"))))
    step("remove c", lambda: ran.append("c"))
    assert ran == ["a", "b", "c"]
    with pytest.raises(ExceptionGroup, match="stopping failed") as info:
        step.raise_all("stopping failed")
    (only,) = info.value.exceptions
    assert str(only) == "engine gone" and only.__notes__ == ["while trying to stop a"]
    Steps().raise_all("nothing failed: no error")
