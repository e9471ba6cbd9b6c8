"""A service whose recovery is known exactly: the ground truth for MTTR accuracy.

Every ``GET /work`` asks the dependency (through its Toxiproxy link) for "pong". While the
dependency fails, /work answers 503. Once the dependency answers again, /work keeps answering
503 for exactly ``GT_RECOVERY_DELAY`` seconds (a warm-up, as real services have) and then 200.
Each transition is logged with its ``time.monotonic_ns()`` instant (the run clock), taken right
after the probe that decided it, so a test can compare the harness's measured recovery against
the truth:

    GT dependency_back <ns>
    GT recovered <ns>

It is one asyncio process (standard library only, so the Docker image needs nothing more) with
HTTP/1.1 keep-alive, and it keeps its connections to the dependency open between probes, as a
real service's connection pool does: each probe still sends "ping" through the link and waits
for "pong", so the dependency's state is what fails the request. That takes it past 1,000 req/s
on 2 cores (a new TCP connection through Toxiproxy per request capped it near 200). A probe
times out after ``GT_PROBE_TIMEOUT`` (0.3 s; the connection is then dropped, so a late "pong"
never answers a later "ping"); a pooled connection the link has closed (``down``, a crash, a
restarted Toxiproxy) is retried once on a fresh connection, as pools do, so a stale socket never
fails a request on its own.

It also counts every ``/work`` request it receives per ``Idempotency-Key`` (at receipt, before
answering) and lists them at ``GET /audit`` in the audit contract (docs/audit.md), one effect
``{"kind": "request", "key": <key>}`` per receipt: the target-side count the ledger must equal,
key for key. ``GT_WORK_DELAY`` (seconds, default 0) holds every ``/work`` answer that long, so that
requests are in flight when the load stops.

``GT_FAIL_DELAY`` (seconds, default 0) makes it fail *slowly*, as services behind a timeout do:
a 503 is sent only that long after the request arrived (the state was decided on arrival, so a
request that arrives just before the recovery still fails, late). The harness must not let
those late failures move the measured recovery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

DELAY_NS = int(float(os.environ.get("GT_RECOVERY_DELAY", "3")) * 1e9)
PROBE_TIMEOUT = float(os.environ.get("GT_PROBE_TIMEOUT", "0.3"))
FAIL_DELAY = float(os.environ.get("GT_FAIL_DELAY", "0"))
WORK_DELAY = float(os.environ.get("GT_WORK_DELAY", "0"))

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
REASONS = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}


class Received:
    """Every keyed request received, in arrival order: the target's own count per key."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def audit(self) -> dict[str, object]:
        effects = [
            {"kind": "request", "key": k, "id": str(n), "value": None, "status": "received"}
            for n, k in enumerate(self.keys, 1)
        ]
        return {"effects": effects, "pending": 0}


class Dependency:
    """Pooled connections to the dependency's link; ``probe()`` is one ping/pong round trip."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Conn] = []

    async def probe(self) -> bool:
        while self.idle:  # newest first; a stale one is dropped and the next tried
            answer = await self._ping(self.idle.pop())
            if answer is not None:
                return answer
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                conn = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            return False
        return bool(await self._ping(conn))

    async def _ping(self, conn: Conn) -> bool | None:
        """True: pong (the connection goes back to the pool); False: no answer in time or a wrong
        one; None: the connection was already closed (stale; the caller may try another)."""
        reader, writer = conn
        try:
            writer.write(b"ping\n")
            async with asyncio.timeout(PROBE_TIMEOUT):
                line = await reader.readline()
        except TimeoutError:
            writer.close()
            return False
        except OSError:
            writer.close()
            return None
        if not line:
            writer.close()
            return None
        if line.startswith(b"pong"):
            self.idle.append(conn)
            return True
        writer.close()
        return False


class State:
    def __init__(self, dep: Dependency) -> None:
        self.dep = dep
        self.broken = False
        self.back_at: int | None = None

    async def serve(self) -> bool:
        dep_ok = await self.dep.probe()
        now = time.monotonic_ns()  # one event loop: nothing runs between here and the decision
        if not dep_ok:
            self.broken, self.back_at = True, None
            return False
        if not self.broken:
            return True
        if self.back_at is None:
            self.back_at = now
            print(f"GT dependency_back {now}", flush=True)
        if now - self.back_at >= DELAY_NS:
            self.broken, self.back_at = False, None
            print(f"GT recovered {now}", flush=True)
            return True
        return False


class Server:
    def __init__(self, state: State, received: Received) -> None:
        self.state, self.received = state, received

    async def route(self, path: bytes, headers: dict[bytes, bytes]) -> tuple[int, bytes, bytes]:
        if path == b"/health":
            return 200, b"ok\n", b"text/plain"
        if path == b"/audit":
            return 200, json.dumps(self.received.audit()).encode(), b"application/json"
        if path != b"/work":
            return 404, b"not found\n", b"text/plain"
        key = headers.get(b"idempotency-key")
        if key:
            self.received.keys.append(key.decode())
        if WORK_DELAY:
            await asyncio.sleep(WORK_DELAY)
        ok = await self.state.serve()
        if not ok and FAIL_DELAY:
            await asyncio.sleep(FAIL_DELAY)
        return (200, b"ok\n", b"text/plain") if ok else (503, b"unavailable\n", b"text/plain")

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """HTTP/1.1 with keep-alive: one request after another on the connection."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                request_line, *lines = head[:-4].split(b"\r\n")
                _method, path, version = request_line.split(b" ", 2)
                headers = {}
                for line in lines:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                if length := int(headers.get(b"content-length", b"0")):
                    await reader.readexactly(length)
                keep = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
                status, body, content_type = await self.route(path.split(b"?", 1)[0], headers)
                close = b"" if keep else b"Connection: close\r\n"
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                    % (status, REASONS[status], content_type, len(body), close)
                    + body
                )
                await writer.drain()
                if not keep:
                    return
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()


async def main(host: str, port: int, dep: str) -> None:
    dep_host, _, dep_port = dep.rpartition(":")
    server = Server(State(Dependency(dep_host, int(dep_port))), Received())
    listener = await asyncio.start_server(server.connection, host, port, backlog=512)
    print(f"GT delay_ns {DELAY_NS}", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dep", required=True, help="host:port of the dependency (the link's proxy)")
    a = ap.parse_args()
    asyncio.run(main(a.host, a.port, a.dep))
