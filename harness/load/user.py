"""Base class for locustfiles: every request is timed, classified and written to the ledger.

Imported only inside the Locust process (it imports Locust, which monkey-patches with gevent).
A locustfile subclasses :class:`LedgerUser` and calls :meth:`LedgerUser.call`::

    class OrdersUser(LedgerUser):
        @task
        def create(self):
            self.call("create_order", "POST", "/orders", key=self.new_key(), json={...}, value="1234")

Configuration comes from the harness through the environment: ``AFTERSHOCK_LEDGER_DIR``,
``AFTERSHOCK_RATE_PER_USER``, ``AFTERSHOCK_REQUEST_TIMEOUT``, ``AFTERSHOCK_SEED``.

Load-layer faults (the ``duplicate`` fault: resend a share of writes under the same idempotency
key, as double clicks and at-least-once delivery do) are switched on and off by the harness
through a small JSON control file (:data:`harness.load.control.CONTROL_FILE`) polled here.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
import requests
from locust import User, events

from harness.load.control import CONTROL_FILE
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
_control: dict[str, Any] = {}


def ledger() -> LedgerWriter:
    global _writer
    if _writer is None:
        LEDGER_DIR.mkdir(parents=True, exist_ok=True)
        _writer = LedgerWriter(LEDGER_DIR / f"ledger-{os.getpid()}.csv")
        gevent.spawn(_flush_forever)
        gevent.spawn(_watch_control)
    return _writer


def _flush_forever() -> None:
    while _writer is not None:
        gevent.sleep(0.2)
        _writer.flush()


def _watch_control() -> None:
    """Follow the harness's control file (load-layer faults); 50 ms between looks."""
    global _control
    path = LEDGER_DIR / CONTROL_FILE
    last = None
    while True:
        try:
            stamp = path.stat().st_mtime_ns
            if stamp != last:
                _control = json.loads(path.read_text())
                last = stamp
        except (OSError, ValueError):
            if last is not None and not path.exists():
                _control, last = {}, None
        gevent.sleep(0.05)


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
    record = True  # False only in the overhead benchmark: the same user without its ledger

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.user_no = next(_users)
        self.random = random.Random(SEED * 100_003 + self.user_no)
        self._dup_random = random.Random(SEED * 7_919 + self.user_no)
        self.session = requests.Session()
        self._keys = itertools.count(1)
        # De-phased pacing: each user keeps its own seeded offset within the period, so users
        # do not fire in step and the gaps between requests (MTTR's resolution) stay small.
        self._period = 1.0 / RATE_PER_USER
        self._next = time.monotonic() + random.Random(SEED * 31_337 + self.user_no).uniform(0, self._period)
        ledger()

    def wait_time(self) -> float:
        """Constant throughput at this user's phase; after an overrun, no burst to catch up."""
        now = time.monotonic()
        self._next = max(self._next + self._period, now)
        return self._next - now

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
        value: str = "",
        headers: dict[str, str] | None = None,
    ) -> requests.Response | None:
        """Send one request (and, under a duplicate fault, maybe its resend); record every attempt.

        Never raises for HTTP trouble: the outcome is in the ledger. Returns the first answer.
        Once the harness has asked the load to stop, nothing new is sent (so every request that
        reached the target is in the ledger before Locust exits).
        """
        if _control.get("stop"):
            gevent.sleep(0.5)
            return None
        resp = self._send(op, method, path, key=key, json=json, value=value, headers=headers, attempt=1)
        dup = _control.get("duplicate")
        if key and dup and self._dup_random.random() < float(dup.get("fraction", 0)):
            delay = float(dup.get("delay", 0))

            def resend() -> None:
                if delay:
                    gevent.sleep(delay)
                self._send(op, method, path, key=key, json=json, value=value, headers=headers, attempt=2)

            if delay:
                gevent.spawn(resend)
            else:
                resend()
        return resp

    def _send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        key: str,
        json: Any,
        value: str,
        headers: dict[str, str] | None,
        attempt: int,
    ) -> requests.Response | None:
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
        if self.record:
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
                    value=value,
                )
            )
        self.environment.events.request.fire(
            request_type=method,
            name=op if attempt == 1 else f"{op} (resend)",
            response_time=latency_ms,
            response_length=len(resp.content) if resp is not None else 0,
            exception=None if outcome == "ok" else (exc or RuntimeError(error)),
            context={},
        )
        if exc is not None:
            self.session.close()  # drop a connection that may be half-dead
            self.session = requests.Session()
        return resp
