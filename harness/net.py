"""Loopback ports for the run's own servers (services, Toxiproxy and its proxies, published ports).

A port is chosen before its server binds it (the proxies, the URLs and Docker's ``-p`` must know it
first), so another process can take it in between. Three defences: ports are picked *below* the
kernel's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), where neither outgoing
connections nor another program's ``bind(port 0)`` ever land; a port handed out is *reserved* for
the other aftershock runs on the machine (an ``flock`` on ``<tmp>/aftershock-ports/<port>.lock``,
held while this process lives: the kernel drops it when the process dies, even by SIGKILL, so a
reservation never outlives its run), which closes the race between two runs that chose the same
port and bind it seconds later; and whoever starts the server retries with a fresh port when the
bind fails with "address already in use" (:func:`port_in_use`).
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
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
    """A port free now, below the ephemeral range, not in ``taken`` and reserved by no other
    aftershock process; reserved for this one (see the module docstring).

    Falls back to the kernel's choice only when the range leaves under 1,000 ports below it."""
    lo, _hi = ephemeral_range()
    if lo - _LOWEST_PORT >= 1000:
        for _ in range(200):
            port = _rng.randrange(_LOWEST_PORT, lo)
            if port not in taken and port not in _reserved and bindable(host, port) and _reserve(port):
                return port
    return kernel_port(host)


_rng = random.SystemRandom()
#: Ports this process reserved, oldest first: port -> the locked file's descriptor.
_reserved: dict[int, int] = {}
#: Reservations kept at most: a long process (pytest, explore) releases its oldest, long bound.
_KEEP = 256


def _reservations() -> Path:
    directory = Path(tempfile.gettempdir()) / "aftershock-ports"
    if not directory.is_dir():
        directory.mkdir(mode=0o1777, exist_ok=True)
        os.chmod(directory, 0o1777)  # every user's runs share it (as /tmp itself)
    return directory


def _reserve(port: int) -> bool:
    """Lock ``port``'s reservation file; False if another process holds it."""
    path = _reservations() / f"{port}.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return True  # cannot reserve (a read-only temp dir): the bind check and retries still stand
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _reserved[port] = fd
    while len(_reserved) > _KEEP:
        release_port(next(iter(_reserved)))
    return True


def release_port(port: int) -> None:
    """Give up this process's reservation of ``port`` (its server is gone for good)."""
    fd = _reserved.pop(port, None)
    if fd is not None:
        os.close(fd)


def port_in_use(text: str) -> bool:
    """Whether a server's error or log says its port was taken (then: retry on a fresh port)."""
    lowered = text.lower()
    return any(marker in lowered for marker in PORT_IN_USE)


def prune_reservations() -> int:
    """Remove the reservation files no process holds (the sweep's; a held one stays); how many."""
    removed = 0
    try:
        paths = list(_reservations().glob("*.lock"))
    except OSError:
        return 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a live run's
        else:
            path.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed
