"""The load's HTTP client (geventhttpclient) against real Toxiproxy faults: each outcome class, one
attempt per ledger row.

A real Locust ``LedgerUser`` (in its own process, gevent-patched as in a run) sends one request
through a real Toxiproxy proxy to a small HTTP server that counts what it receives; the test
reads the ledger row and the server's count. docs/audit.md, section 5, is the rule checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.faults.link import LinkFault, LinkFaultSpec, link_effect
from harness.load.ledger import LedgerRecord, read_records, shard_paths
from harness.scenario.models import DownFault, ResetFault, ResponseLossFault, TimeoutFault
from harness.toxiproxy.proxies import LinkProxies
from harness.toxiproxy.server import ToxiproxyServer
from tests.conftest import REPO

pytestmark = pytest.mark.integration

#: One LedgerUser call, as a run makes it; the shard is closed at the end so it can be read.
DRIVER = """
import sys
from locust.env import Environment
from harness.load import user as u

class One(u.LedgerUser):
    host = sys.argv[1]

One.host = sys.argv[1]
me = One(Environment(user_classes=[One], host=sys.argv[1]))
body = {"v": 1} if sys.argv[2] in ("PUT", "POST") else None
for i in range(int(sys.argv[5])):
    me.call("op", sys.argv[2], sys.argv[3], key=sys.argv[4] + ("" if i == 0 else f"-{i}"), json=body)
u.ledger().close()
"""


class Counting(BaseHTTPRequestHandler):
    """Answers ``/status/N`` with N; counts every request by (method, idempotency key)."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[Counter[tuple[str, str]]] = Counter()
    peers: ClassVar[set[tuple[str, int]]] = set()  # one per connection

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        Counting.peers.add(self.client_address[:2])
        Counting.seen[(self.command, self.headers.get("Idempotency-Key", ""))] += 1
        status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    Counting.seen, Counting.peers = Counter(), set()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def proxies(toxiproxy_binary: Path, tmp_path: Path, http_server: str) -> Iterator[LinkProxies]:
    with (
        ToxiproxyServer(toxiproxy_binary, tmp_path / "toxiproxy.log") as server,
        LinkProxies(server, "fc") as p,
    ):
        p.create("load->app", http_server)
        yield p


def calls(
    proxies: LinkProxies, tmp_path: Path, method: str, path: str, key: str, n: int = 1
) -> list[LedgerRecord]:
    ledger = tmp_path / "ledger"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AFTERSHOCK_LEDGER_DIR": str(ledger),
        "AFTERSHOCK_REQUEST_TIMEOUT": "0.5",
    }
    url = "http://" + proxies.address("load->app")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, url, method, path, key, str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return list(read_records(shard_paths(ledger)))


def one_call(proxies: LinkProxies, tmp_path: Path, method: str, path: str, key: str) -> LedgerRecord:
    (row,) = calls(proxies, tmp_path, method, path, key)
    return row


def fault(kind: str) -> LinkFaultSpec:
    specs = {
        "down": DownFault(kind="down", link="load->app", at=0, duration=1),
        "timeout": TimeoutFault(kind="timeout", link="load->app", at=0, duration=1),
        "reset": ResetFault(kind="reset", link="load->app", at=0, duration=1, direction="downstream"),
        "reset_both": ResetFault(kind="reset", link="load->app", at=0, duration=1),
        "response_loss": ResponseLossFault(kind="response_loss", link="load->app", at=0, duration=1),
    }
    return specs[kind]


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/status/200", "ok"),
        ("/status/201", "ok"),
        ("/status/404", "fail"),
        ("/status/409", "fail"),
        ("/status/503", "indeterminate"),
        ("/status/500", "indeterminate"),
    ],
)
def test_status_classes(proxies: LinkProxies, tmp_path: Path, path: str, outcome: str) -> None:
    row = one_call(proxies, tmp_path, "PUT", path, "k1")
    assert (row.outcome, row.status, row.attempt) == (outcome, int(path.rsplit("/", 1)[-1]), 1)
    assert Counting.seen == Counter({("PUT", "k1"): 1})


def test_refused_before_sending_is_a_definite_failure(proxies: LinkProxies, tmp_path: Path) -> None:
    with LinkFault(link_effect(fault("down")), proxies, "f"):
        row = one_call(proxies, tmp_path, "PUT", "/status/200", "k1")
    assert (row.outcome, row.status) == ("fail", 0)
    assert "Refused" in row.error, row.error
    assert Counting.seen == Counter()


@pytest.mark.parametrize("kind", ["timeout", "reset", "reset_both", "response_loss"])
@pytest.mark.parametrize("method", ["PUT", "GET", "POST"])
def test_trouble_after_sending_is_indeterminate_and_never_resent(
    proxies: LinkProxies, tmp_path: Path, kind: str, method: str
) -> None:
    """geventhttpclient resends an idempotent request (GET, PUT) after a broken connection; the
    ledger would hold one row for two arrivals. One call is one attempt, whatever the method."""
    with LinkFault(link_effect(fault(kind)), proxies, "f"):
        row = one_call(proxies, tmp_path, method, "/status/200", "k1")
    assert (row.outcome, row.status, row.attempt) == ("indeterminate", 0, 1), row
    arrivals = Counting.seen[(method, "k1")]
    assert arrivals <= 1, f"{method} reached the server {arrivals} times under one ledger row"
    if kind in ("reset", "response_loss"):
        assert arrivals == 1  # the request went through; only the answer was lost


def test_calls_reuse_one_keep_alive_connection(proxies: LinkProxies, tmp_path: Path) -> None:
    """No fault: the single-attempt guard does not get in the way of ordinary connection reuse."""
    rows = calls(proxies, tmp_path, "GET", "/status/200", "k", n=5)
    assert [r.outcome for r in rows] == ["ok"] * 5
    assert sum(Counting.seen.values()) == 5
    assert len(Counting.peers) == 1, Counting.peers
