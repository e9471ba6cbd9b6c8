"""Loopback ports for the run's own servers (services, Toxiproxy and its proxies, published ports).

A port is chosen before its server binds it (the proxies, the URLs and Docker's ``-p`` must know it
first), so another process can take it in between. Two defences: ports are picked *below* the
kernel's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), where neither outgoing
connections nor another program's ``bind(port 0)`` ever land; and whoever starts the server retries
with a fresh port when the bind fails with "address already in use" (:func:`port_in_use`).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: How "address already in use" reads in a server's log or error (matched lowercased): the errno
#: text, Go's ``bind: address already in use``, Docker's ``port is already allocated``.
PORT_IN_USE = ("address already in use", "eaddrinuse", "[errno 98]", "port is already allocated")
#: How often a start is tried on a fresh port before giving up.
PORT_ATTEMPTS = 4
_LOWEST_PORT = 10000  # below: well-known and registered ports of other software


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections and ``bind(port 0)`` (inclusive)."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def bindable(host: str, port: int) -> bool:
    """Whether a server could bind ``port`` now. With SO_REUSEADDR, as servers bind: connections
    of a killed predecessor in TIME_WAIT do not count, a listener or a plain bind does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def kernel_port(host: str = "127.0.0.1") -> int:
    """The kernel's choice of a free port (in the ephemeral range): only when nothing else fits."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_port(host: str = "127.0.0.1", taken: frozenset[int] = frozenset()) -> int:
    """A port free now, below the ephemeral range and not in ``taken`` (see the module docstring).

    Falls back to the kernel's choice only when the range leaves under 1,000 ports below it."""
    lo, _hi = ephemeral_range()
    if lo - _LOWEST_PORT >= 1000:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(_LOWEST_PORT, lo)
            if port not in taken and bindable(host, port):
                return port
    return kernel_port(host)


def port_in_use(text: str) -> bool:
    """Whether a server's error or log says its port was taken (then: retry on a fresh port)."""
    lowered = text.lower()
    return any(marker in lowered for marker in PORT_IN_USE)
