"""Port choice for the run's own servers: below the kernel's ephemeral range, never a held port."""

from __future__ import annotations

import socket

from harness.net import bindable, ephemeral_range, free_port, port_in_use


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
