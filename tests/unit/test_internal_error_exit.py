"""An exception no command expected ends aftershock with 3 (harness failure), never with 1.

Seen in a fresh-clone suite run: a Docker "no such image" from the start sweep escaped
``aftershock run`` as a traceback with exit 1, the code CI reads as "an expectation missed"."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from harness.cli import main


@pytest.fixture
def boom() -> Iterator[None]:
    def fail() -> None:
        raise LookupError("no such image: sha256:7867d57df526")

    main.add_command(click.Command("boom", callback=fail))
    try:
        yield
    finally:
        main.commands.pop("boom")


def test_an_unexpected_exception_is_exit_3_with_its_traceback(boom: None) -> None:
    result = CliRunner().invoke(main, ["boom"])
    assert result.exit_code == 3, result.output
    assert "LookupError: no such image" in result.output  # the traceback is printed
    assert "internal error" in result.output


def test_click_usage_errors_keep_their_code() -> None:
    assert CliRunner().invoke(main, ["run"]).exit_code == 2  # missing argument
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0
