"""Port choice for the run's own servers: below the kernel's ephemeral range, never a held port."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from harness.net import bindable, ephemeral_range, free_port, port_in_use
from tests.conftest import REPO


def test_chosen_ports_lie_below_the_ephemeral_range_and_are_free() -> None:
    lo, hi = ephemeral_range()
    assert lo < hi
    ports = [free_port() for _ in range(200)]
    assert all(p < lo for p in ports), [p for p in ports if p >= lo]
    assert all(bindable("127.0.0.1", p) for p in ports)


def test_a_held_port_or_one_taken_by_the_caller_is_never_chosen() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen(1)
        held = holder.getsockname()[1]
        assert not bindable("127.0.0.1", held)
        taken = frozenset(free_port() for _ in range(50))
        chosen = {free_port(taken=taken) for _ in range(200)}
        assert held not in chosen and not chosen & taken


def test_address_in_use_is_recognised_in_each_server_s_words() -> None:
    assert port_in_use("listen tcp 127.0.0.1:4: bind: address already in use")  # Go (Toxiproxy)
    assert port_in_use("OSError: [Errno 98] Address already in use")  # Python
    assert port_in_use("Bind for 127.0.0.1:5 failed: port is already allocated")  # Docker
    assert not port_in_use("connection refused")


class _Fixed:
    """A random source that proposes the given ports in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)

    def randrange(self, _lo: int, _hi: int) -> int:
        return self.ports.pop(0)


def test_a_port_another_run_chose_and_has_not_bound_yet_is_not_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs that pick the same free port before either binds it (a service, Toxiproxy, the
    Locust master: seconds apart) collided; the first one's reservation makes the other skip it.
    The reservation dies with its process, so a run killed by SIGKILL holds nothing."""
    from harness import net

    lo, _ = ephemeral_range()
    first, second = lo - 1500, lo - 1501
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from harness import net\n"
         f"net._rng = type('R', (), {{'randrange': lambda *a: {first}}})()\n"
         f"assert net.free_port() == {first}; print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert bindable("127.0.0.1", first)  # nobody listens on it: only the reservation stands
        monkeypatch.setattr(net, "_rng", _Fixed([first, second]))
        assert net.free_port() == second
    finally:
        holder.kill()
        holder.wait()
    net.release_port(second)
    monkeypatch.setattr(net, "_rng", _Fixed([first]))
    assert net.free_port() == first  # its holder died: the reservation went with it
    net.release_port(first)
    assert net.prune_reservations() >= 2  # neither file is held now
    assert not (net._reservations() / f"{first}.lock").exists()
