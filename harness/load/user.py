"""Base class for locustfiles: every request is timed, classified and written to the ledger.

Imported only inside the Locust process (it imports Locust, which monkey-patches with gevent).
A locustfile subclasses :class:`LedgerUser` and calls :meth:`LedgerUser.call`::

    class OrdersUser(LedgerUser):
        @task
        def create(self):
            self.call("create_order", "POST", "/orders", key=self.new_key(), json={...})

Configuration comes from the harness through the environment: ``AFTERSHOCK_LEDGER_DIR``,
``AFTERSHOCK_RATE_PER_USER``, ``AFTERSHOCK_REQUEST_TIMEOUT``, ``AFTERSHOCK_SEED``.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
import requests
from locust import User, constant_throughput, events

from harness.load.ledger import LedgerRecord, LedgerWriter
from harness.load.outcome import classify

LEDGER_DIR = Path(os.environ.get("AFTERSHOCK_LEDGER_DIR", "."))
READY_FILE = "load.ready"
RATE_PER_USER = float(os.environ.get("AFTERSHOCK_RATE_PER_USER", "10"))
REQUEST_TIMEOUT = float(os.environ.get("AFTERSHOCK_REQUEST_TIMEOUT", "2"))
CONNECT_TIMEOUT = min(1.0, REQUEST_TIMEOUT)
SEED = int(os.environ.get("AFTERSHOCK_SEED", "1"))

_writer: LedgerWriter | None = None
_ids = itertools.count(1)
_users = itertools.count(1)


def ledger() -> LedgerWriter:
    global _writer
    if _writer is None:
        LEDGER_DIR.mkdir(parents=True, exist_ok=True)
        _writer = LedgerWriter(LEDGER_DIR / f"ledger-{os.getpid()}.csv")
        gevent.spawn(_flush_forever)
    return _writer


def _flush_forever() -> None:
    while _writer is not None:
        gevent.sleep(0.2)
        _writer.flush()


def _ready(user_count: int, **_: Any) -> None:
    (LEDGER_DIR / READY_FILE).write_text(f"{time.monotonic_ns()}\n")


def _close(**_: Any) -> None:
    if _writer is not None:
        _writer.close()


def _flush(**_: Any) -> None:
    if _writer is not None:
        _writer.flush()


# Locust ships no type information for its event hooks.
events.spawning_complete.add_listener(_ready)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_close)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_flush)  # type: ignore[no-untyped-call]


class LedgerUser(User):
    """A Locust user whose every request lands in the ledger, with a definite or indeterminate outcome."""

    abstract = True
    wait_time = constant_throughput(RATE_PER_USER)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.user_no = next(_users)
        self.random = random.Random(SEED * 100_003 + self.user_no)
        self.session = requests.Session()
        self._keys = itertools.count(1)

    def new_key(self) -> str:
        """A fresh idempotency key, unique across users and load processes."""
        return f"k{os.getpid():x}-{self.user_no}-{next(self._keys)}"

    def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        key: str = "",
        json: Any = None,
        attempt: int = 1,
        headers: dict[str, str] | None = None,
    ) -> requests.Response | None:
        """Send one request, record it, report it to Locust's stats. Never raises for HTTP trouble."""
        hdrs = dict(headers or {})
        if key:
            hdrs["Idempotency-Key"] = key
        url = (self.host or "") + path
        start = time.monotonic_ns()
        resp: requests.Response | None = None
        exc: BaseException | None = None
        try:
            resp = self.session.request(
                method, url, json=json, headers=hdrs, timeout=(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            )
        except requests.RequestException as e:
            exc = e
        end = time.monotonic_ns()
        status = resp.status_code if resp is not None else 0
        outcome = classify(status, exc)
        latency_ms = (end - start) / 1e6
        error = "" if exc is None else type(exc).__name__
        if exc is None and outcome != "ok":
            error = f"HTTP {status}"
        ledger().write(
            LedgerRecord(
                id=f"{os.getpid():x}-{next(_ids)}",
                op=op,
                key=key,
                start_ns=start,
                end_ns=end,
                outcome=outcome,
                status=status,
                latency_ms=latency_ms,
                attempt=attempt,
                error=error,
            )
        )
        self.environment.events.request.fire(
            request_type=method,
            name=op,
            response_time=latency_ms,
            response_length=len(resp.content) if resp is not None else 0,
            exception=None if outcome == "ok" else (exc or RuntimeError(error)),
            context={},
        )
        if exc is not None:
            self.session.close()  # drop a connection that may be half-dead
            self.session = requests.Session()
        return resp
