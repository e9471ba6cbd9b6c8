"""Alertmanager's webhook receiver: the end of the target's alerting pipeline, and ours.

A small HTTP server on a loopback port. Every notification is stamped on the run clock the
moment it arrives, appended to ``notifications.jsonl`` (flushed at once, so a crash keeps it) and
queued; the orchestrator's thread takes the queue with :meth:`AlertReceiver.drain` and writes each
alert into the journal (the journal has one writer, the orchestrator's thread).
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.clock import now_ns
from harness.resource import Resource

PATH = "/alerts"
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of one notification, as received."""

    t_ns: int
    status: str
    alertname: str
    fingerprint: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""

    def event_data(self) -> dict[str, Any]:
        """The fields of the journal's ``alert`` event."""
        return {
            "status": self.status,
            "alertname": self.alertname,
            "fingerprint": self.fingerprint,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }


def parse_notification(body: dict[str, Any], t_ns: int) -> list[ReceivedAlert]:
    """The alerts of one Alertmanager webhook payload (version 4)."""
    out: list[ReceivedAlert] = []
    for a in body.get("alerts") or []:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        out.append(
            ReceivedAlert(
                t_ns=t_ns,
                status=str(a.get("status", body.get("status", ""))),
                alertname=labels.get("alertname", ""),
                fingerprint=str(a.get("fingerprint") or labels.get("alertname", "")),
                labels=labels,
                annotations={str(k): str(v) for k, v in (a.get("annotations") or {}).items()},
                starts_at=str(a.get("startsAt", "")),
                ends_at=str(a.get("endsAt", "")),
            )
        )
    return out


class AlertReceiver(Resource):
    """The webhook server; a :class:`~harness.resource.Resource` (leaving always stops it)."""

    def __init__(self, log_path: Path, host: str = "127.0.0.1") -> None:
        self.log_path = log_path
        self.host = host
        self._queue: queue.Queue[ReceivedAlert] = queue.Queue()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.received = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not started"
        return f"http://{self.host}:{self._server.server_address[1]}{PATH}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                t_ns = now_ns()
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != PATH or not 0 < length <= MAX_BODY:
                    self.send_error(404 if self.path != PATH else 400)
                    return
                try:
                    body = json.loads(self.rfile.read(length))
                except (ValueError, UnicodeDecodeError):
                    self.send_error(400, "not JSON")
                    return
                receiver._accept(body, t_ns)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: notifications are logged to notifications.jsonl, not stderr."""

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._thread = None  # a second stop must not wait on a loop that has ended
        if server is not None and thread is not None:  # shutdown() waits for a running loop only
            server.shutdown()
            thread.join(timeout=5)
        if server is not None:
            server.server_close()

    def _accept(self, body: Any, t_ns: int) -> None:
        alerts = parse_notification(body, t_ns) if isinstance(body, dict) else []
        with self._lock:
            self.received += 1
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"t_ns": t_ns, "notification": body}) + "\n")
        for a in alerts:
            self._queue.put(a)

    def drain(self) -> list[ReceivedAlert]:
        """Every alert received since the last call, oldest first."""
        out: list[ReceivedAlert] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out
