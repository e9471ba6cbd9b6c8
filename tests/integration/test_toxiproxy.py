"""The Toxiproxy client and link faults against a real toxiproxy-server and a real TCP echo server."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import net
from harness.faults.link import LinkFault, link_effect
from harness.net import ephemeral_range
from harness.scenario.models import DownFault, LatencyFault, ResetFault, TimeoutFault
from harness.toxiproxy import proxies as proxies_module
from harness.toxiproxy import server as server_module
from harness.toxiproxy.client import ToxiproxyError
from harness.toxiproxy.proxies import LinkProxies
from harness.toxiproxy.server import ToxiproxyServer
from tests.tcp import tcp_server

pytestmark = pytest.mark.integration


@pytest.fixture
def echo() -> Iterator[str]:
    """A TCP echo server on loopback."""

    def handle(conn: socket.socket) -> None:
        while data := conn.recv(4096):
            conn.sendall(data)

    with tcp_server(handle) as address:
        yield address


@pytest.fixture
def server(toxiproxy_binary: Path, tmp_path: Path) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(toxiproxy_binary, tmp_path / "toxiproxy.log") as s:
        yield s


@pytest.fixture
def proxies(server: ToxiproxyServer, echo: str) -> Iterator[LinkProxies]:
    with LinkProxies(server, "test") as p:
        p.create("app->dep", echo)
        yield p


# A latency fault of a whole second: "cleared" is a round trip well under it, however busy the
# machine (a bound of 0.1 s depended on the load, and proved nothing more).
LATENCY = 1.0


def roundtrip(address: str, timeout: float = 3.0) -> float:
    host, _, port = address.rpartition(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(b"ping\n")
        assert s.recv(16) == b"ping\n"
    return time.monotonic() - start


def test_client_reports_toxiproxy_errors_with_its_message(server: ToxiproxyServer, echo: str) -> None:
    server.client.create_proxy("dup", "127.0.0.1:0", echo)
    with pytest.raises(ToxiproxyError, match="proxy already exists") as info:
        server.client.create_proxy("dup", "127.0.0.1:0", echo)
    assert info.value.status == 409
    with pytest.raises(ToxiproxyError, match="invalid toxic type"):
        server.client.add_toxic("dup", "x", "no-such-toxic", "downstream", 1.0, {})


def _wait_stopped(pid: int, within: float = 5.0) -> None:
    """Until every thread of ``pid`` is stopped (state ``T`` in ``/proc``)."""
    deadline = time.monotonic() + within
    while True:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError):
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        assert time.monotonic() < deadline, f"pid {pid} not stopped: {states}"
        time.sleep(0.01)


def test_client_times_out_instead_of_hanging(server: ToxiproxyServer) -> None:
    import os
    import signal

    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)  # a wedged server
    try:
        _wait_stopped(server.pid)  # a signal lands when each thread next runs: on a busy CPU, a
        # request sent at once was still answered by a thread not yet stopped ("DID NOT RAISE")
        server.client.timeout = 0.5
        start = time.monotonic()
        with pytest.raises(ToxiproxyError, match="did not answer"):
            server.client.proxies()
        assert time.monotonic() - start < 5
    finally:
        os.kill(server.pid, signal.SIGCONT)


def test_restart_replaces_a_wedged_server_with_clean_proxies(proxies: LinkProxies) -> None:
    import os
    import signal

    server = proxies.server
    fault = LinkFault(
        link_effect(LatencyFault(kind="latency", link="app->dep", at=0, duration=1, latency=LATENCY)),
        proxies,
        "f",
    )
    fault.__enter__()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    _wait_stopped(server.pid)  # else a thread not yet stopped answers the clear, and no restart
    # is needed; the server then stops for good under the next request (a fresh-clone CI run)
    server.client.timeout = 0.5
    fault.__exit__(None, None, None)  # the clear cannot reach Toxiproxy: it must restart it clean
    assert roundtrip(proxies.address("app->dep")) < LATENCY
    assert server.client.proxies()["as-test-app-dep"]["toxics"] == []


def test_latency_fault_adds_delay_and_clears(proxies: LinkProxies) -> None:
    addr = proxies.address("app->dep")
    assert roundtrip(addr) < LATENCY
    with LinkFault(
        link_effect(LatencyFault(kind="latency", link="app->dep", at=0, duration=1, latency=LATENCY)),
        proxies,
        "f",
    ):
        assert roundtrip(addr) >= LATENCY
    assert roundtrip(addr) < LATENCY


def test_down_fault_refuses_connections_and_clears(proxies: LinkProxies) -> None:
    addr = proxies.address("app->dep")
    with (
        LinkFault(link_effect(DownFault(kind="down", link="app->dep", at=0, duration=1)), proxies, "f"),
        pytest.raises(ConnectionRefusedError),
    ):
        roundtrip(addr)
    assert roundtrip(addr) < LATENCY


def test_timeout_fault_black_holes_and_clears(proxies: LinkProxies) -> None:
    addr = proxies.address("app->dep")
    with (
        LinkFault(link_effect(TimeoutFault(kind="timeout", link="app->dep", at=0, duration=1)), proxies, "f"),
        pytest.raises(TimeoutError),
    ):
        roundtrip(addr, timeout=0.5)
    assert roundtrip(addr) < LATENCY


def test_reset_fault_resets_connections_and_clears(proxies: LinkProxies) -> None:
    addr = proxies.address("app->dep")
    with (
        LinkFault(link_effect(ResetFault(kind="reset", link="app->dep", at=0, duration=1)), proxies, "f"),
        pytest.raises((ConnectionResetError, AssertionError)),
    ):
        roundtrip(addr, timeout=1.0)
    assert roundtrip(addr) < LATENCY


def test_removing_proxies_leaves_the_server_empty(server: ToxiproxyServer, echo: str) -> None:
    with LinkProxies(server, "r1") as p:
        p.create("a->b", echo)
        p.create("b->c", echo)
        assert len(server.client.proxies()) == 2
    assert server.client.proxies() == {}


# -- ports: below the ephemeral range, replaced when taken between choice and bind -----------------
def _below_ephemeral(port: int) -> bool:
    lo, hi = ephemeral_range()
    assert hi - lo > 1000  # a normal range: the chooser has room below it
    return port < lo


def test_the_server_and_its_proxies_listen_below_the_ephemeral_range(
    server: ToxiproxyServer, proxies: LinkProxies
) -> None:
    """Outgoing connections and other programs' ``bind(0)`` take ports from the ephemeral range:
    a server of ours waiting there for its turn to bind can lose it."""
    assert _below_ephemeral(server.port), server.port
    port = int(proxies.address("app->dep").rsplit(":", 1)[1])
    assert _below_ephemeral(port), port
    assert roundtrip(proxies.address("app->dep")) >= 0


@contextlib.contextmanager
def _taking_the_first_choice(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> Iterator[list[socket.socket]]:
    """The module's port chooser, with its first choice taken by a listener of ours right after
    it was chosen (as another process could): the start must notice and take another port."""
    real = net.free_port
    holders: list[socket.socket] = []

    def choose(host: str = "127.0.0.1", taken: frozenset[int] = frozenset()) -> int:
        port = real(host, taken)
        if not holders:
            holder = socket.socket()
            holder.bind((host, port))
            holder.listen(8)
            holders.append(holder)
        return port

    monkeypatch.setattr(module, "free_port", choose)
    try:
        yield holders
    finally:
        for holder in holders:
            holder.close()


def test_a_server_port_taken_before_the_start_is_replaced(
    toxiproxy_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        _taking_the_first_choice(monkeypatch, server_module) as holders,
        ToxiproxyServer(toxiproxy_binary, tmp_path / "toxiproxy.log") as s,
    ):
        assert holders and s.port != holders[0].getsockname()[1]
        assert s.client.version()


def test_a_server_port_taken_while_it_binds_is_replaced(
    toxiproxy_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder arrives after the start's own check: Toxiproxy logs the failed bind and keeps
    running without an API (its API check would reach the holder); the start sees the log."""
    checks: list[int] = []

    def bindable_once_wrongly(host: str, port: int) -> bool:
        checks.append(port)
        return len(checks) == 1 or net.bindable(host, port)

    monkeypatch.setattr(server_module, "bindable", bindable_once_wrongly)
    with (
        _taking_the_first_choice(monkeypatch, server_module) as holders,
        ToxiproxyServer(toxiproxy_binary, tmp_path / "toxiproxy.log", start_timeout=30) as s,
    ):
        taken = holders[0].getsockname()[1]
        assert s.port != taken and len(checks) >= 2
        assert s.client.version()
        assert "address already in use" in (tmp_path / "toxiproxy.log").read_text()


def test_a_proxy_port_taken_before_toxiproxy_binds_it_is_replaced(
    server: ToxiproxyServer, echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        _taking_the_first_choice(monkeypatch, proxies_module) as holders,
        LinkProxies(server, "test") as p,
    ):
        address = p.create("app->dep", echo)
        assert int(address.rsplit(":", 1)[1]) != holders[0].getsockname()[1]
        assert _below_ephemeral(int(address.rsplit(":", 1)[1]))
        assert roundtrip(address) >= 0
