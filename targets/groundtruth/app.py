"""A service whose recovery is known exactly: the ground truth for MTTR accuracy.

Every ``GET /work`` asks the dependency (through its Toxiproxy link) for "pong". While the
dependency fails, /work answers 503. Once the dependency answers again, /work keeps answering
503 for exactly ``GT_RECOVERY_DELAY`` seconds (a warm-up, as real services have) and then 200.
Each transition is logged with its ``time.monotonic_ns()`` instant (the run clock), so a test
can compare the harness's measured recovery against the truth:

    GT dependency_back <ns>
    GT recovered <ns>

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
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY_NS = int(float(os.environ.get("GT_RECOVERY_DELAY", "3")) * 1e9)
PROBE_TIMEOUT = float(os.environ.get("GT_PROBE_TIMEOUT", "0.3"))
FAIL_DELAY = float(os.environ.get("GT_FAIL_DELAY", "0"))
WORK_DELAY = float(os.environ.get("GT_WORK_DELAY", "0"))


class Received:
    """Every keyed request received, in arrival order: the target's own count per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        with self.lock:
            self.keys.append(key)

    def audit(self) -> dict[str, object]:
        with self.lock:
            keys = list(self.keys)
        effects = [
            {"kind": "request", "key": k, "id": str(n), "value": None, "status": "received"}
            for n, k in enumerate(keys, 1)
        ]
        return {"effects": effects, "pending": 0}


class State:
    def __init__(self, dep: tuple[str, int]) -> None:
        self.dep = dep
        self.lock = threading.Lock()
        self.broken = False
        self.back_at: int | None = None

    def probe(self) -> bool:
        try:
            with socket.create_connection(self.dep, timeout=PROBE_TIMEOUT) as s:
                s.settimeout(PROBE_TIMEOUT)
                s.sendall(b"ping\n")
                return s.recv(16).startswith(b"pong")
        except OSError:
            return False

    def serve(self) -> bool:
        dep_ok = self.probe()
        now = time.monotonic_ns()
        with self.lock:
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


def handler_for(state: State, received: Received) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/health":
                ok = True
            elif self.path == "/work":
                key = self.headers.get("Idempotency-Key")
                if key:
                    received.add(key)
                if WORK_DELAY:
                    time.sleep(WORK_DELAY)
                ok = state.serve()
            elif self.path == "/audit":
                self.answer(200, json.dumps(received.audit()).encode(), "application/json")
                return
            else:
                self.send_error(404)
                return
            if not ok and FAIL_DELAY:
                time.sleep(FAIL_DELAY)
            self.answer(200 if ok else 503, b"ok\n" if ok else b"unavailable\n", "text/plain")

        def answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dep", required=True, help="host:port of the dependency (the link's proxy)")
    a = ap.parse_args()
    host, _, port = a.dep.rpartition(":")
    server = ThreadingHTTPServer((a.host, a.port), handler_for(State((host, int(port))), Received()))
    server.daemon_threads = True
    print(f"GT delay_ns {DELAY_NS}", file=sys.stdout, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
