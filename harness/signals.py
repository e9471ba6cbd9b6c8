"""Signal handling for a run: one install/restore helper, two policies.

:func:`signals_as_interrupts` turns SIGINT/SIGTERM into :class:`~harness.errors.Interrupted` so the
teardown stack runs; :func:`shielded` acknowledges a second Ctrl-C during teardown without
obeying it (teardown must finish: a fault must never outlive its rehearsal).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType

from harness.errors import Interrupted

Handler = Callable[[int, FrameType | None], None]
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def handling(handler: Handler) -> Iterator[None]:
    """Install ``handler`` for SIGINT and SIGTERM; restore the previous handlers on exit."""
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


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
