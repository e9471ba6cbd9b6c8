"""Base class for locustfiles: every request is timed, classified and written to the ledger.

Requests go through geventhttpclient, the client of Locust's ``FastHttpUser``, one attempt per
ledger row (:mod:`harness.load.fastclient`).

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

Stopping (DESIGN.md, "Ledger completeness"): every request stamps its start and *then* checks
the harness's stop file; once the file exists nothing more is sent, so no request starts after
the stop instant the harness journals. Requests already in flight finish (or hit their total
deadline) and are written; only when none is left is the shard closed and its done marker
written. A user killed mid-request (Locust stopping it) still leaves an ``indeterminate`` row.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from locust import User, events

from harness.load.control import CONTROL_FILE, STOP_FILE, done_marker
from harness.load.fastclient import Answer, FastClient
from harness.load.ledger import LedgerRecord, LedgerWriter
from harness.load.outcome import classify
from harness.load.remote import REMOTE_ENV, wait_configured
from harness.load.remote import install as _install_remote

LEDGER_DIR = Path(os.environ.get("AFTERSHOCK_LEDGER_DIR", "."))
READY_FILE = "load.ready"
RATE_PER_USER = float(os.environ.get("AFTERSHOCK_RATE_PER_USER", "10"))
REQUEST_TIMEOUT = float(os.environ.get("AFTERSHOCK_REQUEST_TIMEOUT", "2"))
CONNECT_TIMEOUT = min(1.0, REQUEST_TIMEOUT)
#: No request lasts longer than this, whatever trickles in: it bounds how long a stop waits.
REQUEST_DEADLINE = CONNECT_TIMEOUT + REQUEST_TIMEOUT
SEED = int(os.environ.get("AFTERSHOCK_SEED", "1"))
STOP_PATH = str(LEDGER_DIR / STOP_FILE)
#: Where this worker's requests go instead of the master's ``--host`` (a remote worker that
#: reaches the target by another address); see :mod:`harness.load.remote_worker`.
TARGET_URL = os.environ.get("AFTERSHOCK_TARGET_URL", "")
#: Makes idempotency keys unique across load processes (a remote worker's is its worker name).
KEY_PREFIX = f"{os.getpid():x}"

_writer: LedgerWriter | None = None
_ids = itertools.count(1)
_users = itertools.count(1)
_control: dict[str, Any] = {}
_inflight = 0
_idle = gevent.event.Event()  # set whenever no request is in flight
_idle.set()
_stopped = False  # the stop file was seen, or Locust is quitting: nothing more is sent


class RequestDeadline(Exception):
    """A request outlived :data:`REQUEST_DEADLINE` (e.g. a response trickling in): indeterminate."""


def ledger() -> LedgerWriter:
    global _writer
    if _writer is None:
        LEDGER_DIR.mkdir(parents=True, exist_ok=True)
        _writer = LedgerWriter(LEDGER_DIR / f"ledger-{os.getpid()}.csv")
        gevent.spawn(_flush_forever)
        gevent.spawn(_watch_control)
    return _writer


def _flush_forever() -> None:
    while _writer is not None and not _writer.closed:
        gevent.sleep(0.2)
        _writer.flush()


def stop_seen() -> bool:
    """True once the harness has stopped the load (or Locust is quitting). Costs one ``stat``."""
    global _stopped
    if not _stopped and os.path.exists(STOP_PATH):
        _stopped = True
    return _stopped


def _watch_control() -> None:
    """Follow the harness's control file (load-layer faults) and its stop file; 20 ms between looks."""
    global _control
    path = LEDGER_DIR / CONTROL_FILE
    last = None
    while True:
        if stop_seen():
            _finish()
            return
        try:
            stamp = path.stat().st_mtime_ns
            if stamp != last:
                _control = json.loads(path.read_text())
                last = stamp
        except (OSError, ValueError):
            if last is not None and not path.exists():
                _control, last = {}, None
        gevent.sleep(0.02)


def _finish(timeout: float | None = None) -> None:
    """After the stop: wait for the requests in flight to land, then close the shard and mark it done.

    Nothing new starts once :func:`stop_seen` is true (checked with no yield before a request is
    counted in flight), so when the count reaches zero the shard holds every request sent.
    """
    _idle.wait(timeout=REQUEST_DEADLINE + 1.0 if timeout is None else timeout)
    if _writer is None or _writer.closed:
        return
    if _inflight:
        # Only if a request outlived its own deadline: leave the shard unmarked, the harness says so.
        _writer.flush()
        return
    _writer.close()
    done_marker(_writer.path).write_text(f"{_writer.rows}\n")


def _ready(user_count: int, **_: Any) -> None:
    (LEDGER_DIR / READY_FILE).write_text(f"{time.monotonic_ns()}\n")


def _close(**_: Any) -> None:
    """Locust is quitting (it fires this *before* it stops the users): stop sending, let the
    requests in flight land, then close."""
    global _stopped
    _stopped = True
    _finish()


def _flush(**_: Any) -> None:
    if _writer is not None:
        _writer.flush()


def _last(exit_code: int = 0, **_: Any) -> None:
    """Locust has stopped every user (a user killed mid-request wrote its row): close and mark."""
    if _writer is not None and not _writer.closed:
        _writer.close()
        done_marker(_writer.path).write_text(f"{_writer.rows}\n")
    # Registered last, so it runs first: after Locust closed its CSV files. Not on a remote worker,
    # whose rows still travel to the master over Locust's messages.
    if _writer is not None and not os.environ.get(REMOTE_ENV):
        atexit.register(_exit_now, exit_code)


def _exit_now(code: int) -> None:
    """Every file is complete: skip the interpreter's slow teardown (a quarter second per trial)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# Locust ships no type information for its event hooks.
events.spawning_complete.add_listener(_ready)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_close)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_flush)  # type: ignore[no-untyped-call]
events.quit.add_listener(_last)  # type: ignore[no-untyped-call]
_install_remote(sys.modules[__name__])


class LedgerUser(User):
    """A Locust user whose every request lands in the ledger, with a definite or indeterminate outcome."""

    abstract = True
    record = True  # False only in the overhead benchmark: the same user without its ledger

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        wait_configured()  # a remote worker: the run's settings come from the master first
        self.user_no = next(_users)
        self.random = random.Random(SEED * 100_003 + self.user_no)
        self._dup_random = random.Random(SEED * 7_919 + self.user_no)
        self.http = self._client()
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

    def _client(self) -> FastClient:
        return FastClient(TARGET_URL or self.host or "http://127.0.0.1", CONNECT_TIMEOUT, REQUEST_TIMEOUT)

    def new_key(self) -> str:
        """A fresh idempotency key, unique across users and load processes."""
        return f"k{KEY_PREFIX}-{self.user_no}-{next(self._keys)}"

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
    ) -> Answer | None:
        """Send one request (and, under a duplicate fault, maybe its resend); record every attempt.

        Never raises for HTTP trouble: the outcome is in the ledger. Returns the first answer, or
        None when nothing was sent because the harness has stopped the load.
        """
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
    ) -> Answer | None:
        """One attempt on the wire, counted in flight from its start stamp until its row is written."""
        global _inflight
        hdrs = dict(headers or {})
        if key:
            hdrs["Idempotency-Key"] = key
        start = time.monotonic_ns()
        if stop_seen():  # after the start stamp, so a request sent is one that started before the stop
            return None
        _inflight += 1  # no yield since the check: the stop watcher cannot miss this request
        _idle.clear()
        resp: Answer | None = None
        exc: BaseException | None = None
        http = self.http  # a resend in its own greenlet keeps its client even if this one is replaced
        try:
            with gevent.Timeout(REQUEST_DEADLINE, RequestDeadline(f"no answer within {REQUEST_DEADLINE:g}s")):
                resp = http.request(method, path, json=json, headers=hdrs)
        except Exception as e:  # transport trouble, RequestDeadline included
            exc = e
        except BaseException as e:  # Locust killed this user mid-request: still a row, then go
            exc = e
            raise
        finally:
            self._land(op, method, key, value, attempt, start, resp, exc, http)
        if exc is not None:
            http.close()  # drop connections that may be half-dead
            if self.http is http:
                self.http = self._client()
        return resp

    def _land(
        self,
        op: str,
        method: str,
        key: str,
        value: str,
        attempt: int,
        start: int,
        resp: Answer | None,
        exc: BaseException | None,
        http: FastClient,
    ) -> None:
        """The attempt's row in the ledger (always, even for a user killed mid-request), then, unless
        the user is being killed, Locust's own request event. Plain positional arguments: this runs
        once per request and allocates nothing the inline code did not."""
        global _inflight
        end = time.monotonic_ns()
        status = resp.status_code if resp is not None else 0
        outcome = classify(status, exc, http.sent())
        latency_ms = (end - start) / 1e6
        error = "" if exc is None else type(exc).__name__
        if exc is None and outcome != "ok":
            error = f"HTTP {status}"
        try:
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
        finally:
            _inflight -= 1
            if not _inflight:
                _idle.set()
        if exc is not None and not isinstance(exc, Exception):
            return  # the user is being killed: the BaseException propagates, no Locust event
        self.environment.events.request.fire(
            request_type=method,
            name=op if attempt == 1 else f"{op} (resend)",
            response_time=latency_ms,
            response_length=len(resp.content) if resp is not None else 0,
            exception=None if outcome == "ok" else (exc or RuntimeError(error)),
            context={},
        )
