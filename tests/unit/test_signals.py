"""One signal mechanism: a command ends with 130 on SIGINT/SIGTERM; handlers come back otherwise."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from harness.errors import ExitCode
from harness.signals import exits_on_interrupt


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def test_a_sigterm_inside_a_command_exits_130_and_later_signals_are_ignored(handlers: None) -> None:
    @exits_on_interrupt
    def command() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM must interrupt the command")

    with pytest.raises(SystemExit) as info:
        command()
    assert info.value.code == int(ExitCode.INTERRUPTED)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a second Ctrl-C: no traceback
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_a_command_that_ends_restores_the_handlers_it_found(handlers: None) -> None:
    def mine(signum: int, frame: object) -> None: ...

    signal.signal(signal.SIGTERM, mine)

    @exits_on_interrupt
    def command(x: int) -> None:
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
        raise SystemExit(x)

    with pytest.raises(SystemExit):
        command(0)
    assert signal.getsignal(signal.SIGTERM) is mine
