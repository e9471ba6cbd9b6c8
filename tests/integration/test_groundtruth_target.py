"""The ground-truth target's pooled dependency connections: the dependency's state, never a stale
socket, decides each answer. Real processes (app.py, dep.py) on loopback; no Toxiproxy needed."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.net import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"


def _until_port(port: int, open_: bool = True) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if open_:
                    return
        except OSError:
            if not open_:
                return
        time.sleep(0.02)
    pytest.fail(f"port {port} never became {'open' if open_ else 'closed'}")


@contextmanager
def _process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=GROUNDTRUTH, stdout=out, stderr=out, env=env)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _work(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/work")
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_restarted_dependency_behind_a_pooled_connection_fails_no_request(tmp_path: Path) -> None:
    dep_port, app_port = free_port(), free_port()
    dep_args = ["dep.py", "--port", str(dep_port)]
    app_log = tmp_path / "app.log"
    env = {"GT_RECOVERY_DELAY": "0", "PATH": "/usr/bin:/bin"}
    with _process(dep_args, tmp_path / "dep.log") as dep:
        _until_port(dep_port)
        app_args = ["app.py", "--port", str(app_port), "--dep", f"127.0.0.1:{dep_port}"]
        with _process(app_args, app_log, env):
            _until_port(app_port)
            assert _work(app_port) == 200  # the app now holds a pooled connection to dep
            dep.kill()
            dep.wait(timeout=10)
            _until_port(dep_port, open_=False)
            with _process(dep_args, tmp_path / "dep.log"):
                _until_port(dep_port)
                # the pooled connection died with the old dep; the new dep answers: no failure
                assert _work(app_port) == 200
                assert "GT dependency_back" not in app_log.read_text()
            _until_port(dep_port, open_=False)
            # no dependency at all: the request fails, and the recovery is logged once it is back
            assert _work(app_port) == 503
            with _process(dep_args, tmp_path / "dep.log"):
                _until_port(dep_port)
                assert _work(app_port) == 200
    log = app_log.read_text()
    assert log.count("GT dependency_back") == 1 and log.count("GT recovered") == 1
