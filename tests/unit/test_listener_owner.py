"""Whose socket answers on a port: a Toxiproxy start must not take another run's server for its own.

Seen in a fresh-clone suite run: two servers raced for one API port, ours lost the bind (it logs
that and keeps running without its API), and the API check was answered by the other one; a test
that froze "our" server then still got answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.toxiproxy.server import ToxiproxyServer, listens_elsewhere


def test_a_listener_is_told_apart_by_its_owner() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not listens_elsewhere(os.getpid(), port)  # ours
        assert listens_elsewhere(1, port)  # someone else's (init holds no such socket)


def test_a_port_nobody_listens_on_claims_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening
        assert not listens_elsewhere(os.getpid(), sock.getsockname()[1])


def test_a_restart_says_how_a_server_that_was_dying_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server killed from outside stops answering (its sockets close) a moment before it is seen
    to have exited; the restart records how it ended (SIGKILL), not "stopped answering" (a CI run
    under load read the wrong reason). A real process that kills itself 0.2 s after the restart
    began stands for it; starting the new server is not this test's business."""
    server = ToxiproxyServer(Path("/nonexistent"), tmp_path / "toxiproxy.log")
    dying = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, time; time.sleep(0.2); os.kill(os.getpid(), signal.SIGKILL)",
        ]
    )
    monkeypatch.setattr(server, "_proc", dying)
    monkeypatch.setattr(server, "start", lambda: None)
    server.restart()
    ((_, why),) = server.restarts
    assert "SIGKILL" in why, why
