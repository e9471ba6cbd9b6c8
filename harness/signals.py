"""Signal handling: one install/restore helper, three policies.

:func:`signals_as_interrupts` turns SIGINT/SIGTERM into :class:`~harness.errors.Interrupted` so a
run's teardown stack runs; :func:`shielded` acknowledges a second Ctrl-C during teardown without
obeying it (teardown must finish: a fault must never outlive its rehearsal);
:func:`exits_on_interrupt` ends a whole command with 130 wherever a signal arrives outside a run.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any, ParamSpec

from harness.errors import ExitCode, Interrupted

Handler = Callable[[int, FrameType | None], None]
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
P = ParamSpec("P")


def _install(handler: Handler | int) -> dict[signal.Signals, Any]:
    """``handler`` for SIGINT and SIGTERM; the handlers it replaced."""
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, handler)
    return previous


def _restore(previous: dict[signal.Signals, Any]) -> None:
    for s, h in previous.items():
        signal.signal(s, h)


@contextmanager
def handling(handler: Handler) -> Iterator[None]:
    """Install ``handler`` for SIGINT and SIGTERM; restore the previous handlers on exit."""
    previous = _install(handler)
    try:
        yield
    finally:
        _restore(previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


def _acknowledge(signum: int, frame: FrameType | None) -> None:
    print("aftershock: still cleaning up (faults, load, services); one moment", file=sys.stderr, flush=True)


def signals_as_interrupts() -> AbstractContextManager[None]:
    """SIGTERM (and SIGINT) raise :class:`Interrupted` in the main thread so teardown runs."""
    return handling(_interrupt)


def shielded() -> AbstractContextManager[None]:
    """Teardown must finish: a second Ctrl-C during it is acknowledged, not obeyed."""
    return handling(_acknowledge)


def exits_on_interrupt(command: Callable[P, None]) -> Callable[P, None]:
    """SIGTERM and SIGINT end ``command`` with 130 wherever they arrive: before a run, between
    runs, while the index is written (a run installs :func:`signals_as_interrupts` itself and
    restores these after). Without this a SIGTERM there killed the process (143) and click turned
    a Ctrl-C into "Aborted!" with 1, the code of a missed expectation.

    Both signals raise ``KeyboardInterrupt`` (not :class:`Interrupted`), so no ``except
    AftershockError`` inside the command swallows them; once caught, both are ignored: a second
    signal must not turn the exit into a traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        previous = _install(signal.default_int_handler)
        interrupted = False
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            interrupted = True
            _install(signal.SIG_IGN)
            with contextlib.suppress(OSError):  # nobody may be listening any more
                print("\naftershock: interrupted", file=sys.stderr, flush=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        finally:
            if not interrupted:
                _restore(previous)

    return wrapper
