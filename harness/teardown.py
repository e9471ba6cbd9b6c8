"""A stack of resources torn down newest first; every step runs, every failure is reported.

Like pytest's finalisers: one failing cleanup never stops the next one, and all failures are
raised together as an ``ExceptionGroup``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


class Teardown(AbstractContextManager["Teardown"]):
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def enter(self, name: str, cm: AbstractContextManager[T]) -> T:
        """Enter ``cm`` now; its ``__exit__`` joins the stack (only if ``__enter__`` succeeded)."""
        value = cm.__enter__()
        self._steps.append((name, lambda: cm.__exit__(None, None, None)))
        return value

    def callback(self, name: str, fn: Callable[[], Any]) -> None:
        self._steps.append((name, fn))

    def close(self) -> None:
        errors: list[Exception] = []
        while self._steps:
            name, fn = self._steps.pop()
            try:
                fn()
            except Exception as exc:
                exc.add_note(f"while tearing down: {name}")
                errors.append(exc)
        if errors:
            raise ExceptionGroup(f"{len(errors)} teardown step(s) failed", errors)

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
