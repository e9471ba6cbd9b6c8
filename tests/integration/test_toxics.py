"""The degraded-network toxics as fault kinds, each against a real Toxiproxy and a real server.

Every assertion is a bound the toxic guarantees however busy the machine is (a lower bound on
time, a byte count), never an upper bound on speed: a loaded machine only makes things slower.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.faults.link import LinkFault, link_effect
from harness.faults.link import LinkFaultSpec as Spec
from harness.scenario.models import Fault
from harness.toxiproxy.proxies import LinkProxies
from harness.toxiproxy.server import ToxiproxyServer
from tests.tcp import tcp_server

pytestmark = pytest.mark.integration

LINK = "app->dep"


@pytest.fixture(scope="module")
def sender() -> Iterator[str]:
    """A server that answers a line ``N`` with N bytes, then closes the connection at once."""

    def handle(conn: socket.socket) -> None:
        line = b""
        while not line.endswith(b"\n"):
            chunk = conn.recv(64)
            if not chunk:
                return
            line += chunk
        conn.sendall(b"x" * int(line))

    with tcp_server(handle, backlog=16) as address:
        yield address


@pytest.fixture(scope="module")
def proxies(
    toxiproxy_binary: Path, tmp_path_factory: pytest.TempPathFactory, sender: str
) -> Iterator[LinkProxies]:
    log = tmp_path_factory.mktemp("toxics") / "toxiproxy.log"
    with ToxiproxyServer(toxiproxy_binary, log) as server, LinkProxies(server, "toxics") as p:
        p.create(LINK, sender)
        yield p


class Fetch:
    """One request for ``size`` bytes through the proxy: what came back, in how many reads, when."""

    def __init__(self, address: str, size: int) -> None:
        host, _, port = address.rpartition(":")
        self.reads: list[int] = []
        self.started = time.monotonic()
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.sendall(f"{size}\n".encode())
            while chunk := s.recv(1 << 16):
                self.reads.append(len(chunk))
                self.last_data = time.monotonic()
        self.eof = time.monotonic()

    @property
    def received(self) -> int:
        return sum(self.reads)


def fault(proxies: LinkProxies, **spec: Any) -> LinkFault:
    parsed = TypeAdapter(Fault).validate_python({"link": LINK, "at": 0, "duration": 1, **spec})
    assert isinstance(parsed, Spec)
    return LinkFault(link_effect(parsed), proxies, f"t-{spec['kind']}")


def test_bandwidth_caps_the_rate_of_a_large_answer(proxies: LinkProxies) -> None:
    address = proxies.address(LINK)
    with fault(proxies, kind="bandwidth", rate=10):  # 10 KB/s
        capped = Fetch(address, 20_000)
    assert capped.received == 20_000
    # 20 KB at 10 KB/s: at least ~2 s (Toxiproxy waits after each chunk it lets through; allow
    # the last 100 ms chunk)
    assert capped.eof - capped.started >= 1.8
    after = Fetch(address, 20_000)  # cleared: the same answer, whole
    assert after.received == 20_000


def test_slicer_cuts_the_answer_into_small_delayed_pieces(proxies: LinkProxies) -> None:
    address = proxies.address(LINK)
    with fault(proxies, kind="slicer", average_size=10, delay="5ms"):
        sliced = Fetch(address, 1000)
    assert sliced.received == 1000
    assert max(sliced.reads) < 1000 and len(sliced.reads) > 1  # never in one piece
    assert sliced.eof - sliced.started >= 99 * 0.005  # 100 slices, 5 ms apart
    whole = Fetch(address, 1000)
    assert whole.received == 1000


def test_slow_close_holds_the_close_back(proxies: LinkProxies) -> None:
    address = proxies.address(LINK)
    with fault(proxies, kind="slow_close", delay="1s"):
        lingering = Fetch(address, 100)
    assert lingering.received == 100
    # the server closed right after sending; the client saw the close at least 1 s after connecting
    assert lingering.eof - lingering.started >= 1.0


def test_limit_data_closes_the_connection_after_n_bytes(proxies: LinkProxies) -> None:
    address = proxies.address(LINK)
    with fault(proxies, kind="limit_data", bytes=100):
        cut = [Fetch(address, 4000) for _ in range(3)]
    assert [f.received for f in cut] == [100, 100, 100]
    assert Fetch(address, 4000).received == 4000  # cleared: whole again
