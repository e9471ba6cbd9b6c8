"""The HTTP client of the load: geventhttpclient (Locust's ``FastHttpUser`` client), one attempt per call.

Why not ``requests``: measured on the fast benchmark target it costs ~4x the CPU per request, 16 %
of it looking up proxy settings in the environment on every call. Why not ``FastHttpUser`` itself:
its ``UserAgent`` layer adds retries and Locust events of its own, and a locustfile calling
``self.client`` would send requests the ledger never sees.

Two things the ledger needs that geventhttpclient does not give by default:

* **One attempt per ledger row.** ``HTTPClient.request`` silently resends an idempotent request
  (GET, PUT, DELETE, ...) after a send error or a connection closed before the answer: a PUT could
  reach the server twice under one key with one row. :class:`SingleAttemptPool` refuses the second
  socket within one call, so the call fails with :class:`LostAfterSend` (indeterminate) instead.
* **Sent or not.** A failure before a connection was open (refused, connect timeout, no route)
  sent nothing: a definite failure. Any failure after the socket was handed to the request may
  have reached the server: indeterminate. The pool records which one it was.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any
from urllib.parse import urlsplit

import gevent
from geventhttpclient.client import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool


class LostAfterSend(Exception):
    """The connection broke after the request went out; geventhttpclient wanted to resend it."""


class SingleAttemptPool(ConnectionPool):
    """A connection pool that hands out one socket per call and remembers that it did."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: dict[gevent.Greenlet, bool] = {}  # greenlet -> a socket was handed out

    def get_socket(self) -> Any:
        me = gevent.getcurrent()
        if self.calls.get(me, True):
            # Not inside a call, or a second socket within one call: the library's silent retry.
            raise LostAfterSend("connection lost after the request was sent (not resent)")
        sock = super().get_socket()
        self.calls[me] = True
        return sock


class Answer:
    """What a locustfile sees of a response: status, body, and its JSON."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class FastClient:
    """One user's connections to the target (a few, for a resend that overlaps the next call)."""

    def __init__(
        self, base_url: str, connect_timeout: float, read_timeout: float, concurrency: int = 4
    ) -> None:
        parts = urlsplit(base_url)
        self.prefix = parts.path.rstrip("/")
        self.client = HTTPClient(
            parts.hostname or "127.0.0.1",
            port=parts.port,
            ssl=parts.scheme == "https",
            connection_timeout=connect_timeout,
            network_timeout=read_timeout,
            concurrency=concurrency,
        )
        # geventhttpclient builds its pool inside __init__ with no hook: give it ours.
        pool = self.client._connection_pool
        pool.__class__ = SingleAttemptPool
        self.pool: SingleAttemptPool = pool  # type: ignore[assignment]
        self.pool.calls = {}

    def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """Send once; raise on any transport failure. ``sent()`` then says whether it may have arrived."""
        hdrs = dict(headers or {})
        body = b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        me = gevent.getcurrent()
        self.pool.calls[me] = False
        resp = self.client.request(method, self.prefix + path, body=body, headers=hdrs)
        try:
            content = resp.read()
        finally:
            resp.release()
        return Answer(resp.status_code, content)

    def sent(self) -> bool:
        """After a call of this greenlet: did it get a socket, so that bytes may have left?"""
        return self.pool.calls.pop(gevent.getcurrent(), False)

    def close(self) -> None:
        self.client.close()
