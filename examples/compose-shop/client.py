"""Talking to the store: one short connection per command (simple, and honest under faults)."""

import os
import socket

STORE = os.environ.get("STORE_ADDR", "store:6000")


def command(line: str, timeout: float = 0.5) -> str:
    host, port = STORE.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall((line + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("store closed the connection")
            data += chunk
    return data.decode().strip()
