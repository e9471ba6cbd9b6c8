"""Something the harness starts and must stop: one base for every process, server and target.

The pattern is testcontainers': entering starts the resource and, if the start fails half-way,
stops what was started before re-raising (a failure of that stop is a note on the first error,
never a replacement for it); leaving always stops it. :func:`wait_until_ready` is the one
"wait until it answers, or say how it died" loop the resources share.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")


def start_or_undo(start: Callable[[], object], stop: Callable[[], object]) -> None:
    """Run ``start``; if it raises, run ``stop`` and re-raise the start's error.

    A failing ``stop`` is attached to that error as a note: the first failure says what went wrong.
    """
    try:
        start()
    except BaseException as exc:
        try:
            stop()
        except Exception as cleanup:
            exc.add_note(f"undoing the partial start also failed: {cleanup}")
        raise


class Resource(abc.ABC):
    """A context manager over :meth:`start` and :meth:`stop`; ``stop`` must be safe to call on a
    resource that started only in part (or not at all) and more than once."""

    @abc.abstractmethod
    def start(self) -> None:
        """Bring the resource up; return once it is usable."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Take down whatever :meth:`start` brought up (idempotent)."""

    def __enter__(self) -> Self:
        start_or_undo(self.start, self.stop)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Steps:
    """Teardown steps that all run, in the order called: each failure is kept with a note of what
    was tried (``ignore``: exceptions that mean the step's goal is already met, e.g. a 404) and
    :meth:`raise_all` raises them together."""

    def __init__(self, *, ignore: tuple[type[Exception], ...] = ()) -> None:
        self.ignore = ignore
        self.errors: list[Exception] = []

    def __call__(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except self.ignore:
            pass
        except Exception as exc:
            exc.add_note(f"while trying to {what}")
            self.errors.append(exc)

    def raise_all(self, message: str) -> None:
        if self.errors:
            raise ExceptionGroup(message, self.errors)


def wait_until_ready(
    probe: Callable[[], T | None],
    *,
    died: Callable[[], BaseException | None],
    timeout: float,
    timed_out: Callable[[], BaseException],
    poll: float = 0.05,
) -> T:
    """Poll until ``probe`` returns a value (returned), checking first each time whether the
    resource died (``died`` returns the error to raise) and raising ``timed_out()`` once
    ``timeout`` seconds have passed without an answer.

    Death is checked before the probe: a port answered by someone else after our process died
    must not count as ready.
    """
    deadline = time.monotonic() + timeout
    while True:
        error = died()
        if error is not None:
            raise error
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise timed_out()
        time.sleep(poll)
