"""Whose socket answers on a port: a Toxiproxy start must not take another run's server for its own.

Seen in a fresh-clone suite run: two servers raced for one API port, ours lost the bind (it logs
that and keeps running without its API), and the API check was answered by the other one; a test
that froze "our" server then still got answers."""

from __future__ import annotations

import os
import socket

from harness.toxiproxy.server import listens_elsewhere


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
