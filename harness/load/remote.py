"""Locust workers on other machines: clock offset, stop, load-layer faults and ledger over Locust's
own master-worker messages (the Locust side; imported by :mod:`harness.load.user`).

Why over Locust's messages: the master already holds one connection to each worker, so a remote
worker needs no port, file share or copy step of its own. A worker started by
:mod:`harness.load.remote_worker` (``AFTERSHOCK_REMOTE_WORKER=1``) says hello; the master
(beside the harness, on the run's clock) then

* checks it runs the same aftershock version and the same locustfile, and hands it the run's
  settings (rate per user, request timeout, seed), so users start only once they are known;
* pings it every :data:`PING_INTERVAL` for the whole run: round trips whose arithmetic
  (:mod:`harness.clock_sync <harness.load.clock_sync>`) bounds the worker's clock offset;
* relays the harness's control file (the ``duplicate`` fault) and its stop file; the worker
  answers a stop with the instant, on its clock, after which it sent nothing;
* receives the worker's ledger shard as it is written (complete lines), keeps it raw as
  ``remote-<worker>.raw.csv`` and shifted onto the run's clock as ``ledger-<worker>.csv``
  (a running estimate while the load runs, for the live guards). Once the worker has closed its
  shard and sent the last lines, the shard is rewritten with the final offset, the estimate is
  stated in ``clock-<worker>.json`` and only then the shard's done marker is written: the
  harness's completeness check (every shard marked done) covers remote shards unchanged, and the
  empty shard is created at hello so a worker that never finishes is noticed.

Test hook: ``AFTERSHOCK_TEST_CLOCK_OFFSET_NS`` on a remote worker adds that many nanoseconds to
its ``time.monotonic_ns`` (every stamp it takes), so a test can give one worker a clock far from
the harness's and check that the correction removes it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import gevent
import gevent.event

from harness import __version__
from harness.load.clock_sync import OffsetEstimator, RoundTrip, WorkerClock, shift_row
from harness.load.control import (
    CONTROL_FILE,
    LOST_SUFFIX,
    REFUSED_SUFFIX,
    REMOTE_WORKERS_ENV,
    STOP_FILE,
    STOPPED_SUFFIX,
    done_marker,
)
from harness.load.ledger import COLUMNS

log = logging.getLogger("aftershock.remote")

#: Set by :mod:`harness.load.remote_worker`: this Locust worker runs away from the harness.
REMOTE_ENV = "AFTERSHOCK_REMOTE_WORKER"
#: Test hook: nanoseconds added to this worker's monotonic clock (see the module docstring).
OFFSET_ENV = "AFTERSHOCK_TEST_CLOCK_OFFSET_NS"
#: Seconds between two pings of one worker.
PING_INTERVAL = 0.2
#: Seconds between two sends of a worker's new ledger lines.
SHIP_INTERVAL = 0.2
#: The largest piece of a shard sent in one message (bytes).
CHUNK = 256 * 1024

IS_REMOTE = os.environ.get(REMOTE_ENV) == "1"

if IS_REMOTE and os.environ.get(OFFSET_ENV):
    _true_monotonic_ns = time.monotonic_ns
    _injected = int(os.environ[OFFSET_ENV])

    def _offset_monotonic_ns() -> int:
        return _true_monotonic_ns() + _injected

    time.monotonic_ns = _offset_monotonic_ns


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def worker_name(host: str, pid: int, client_id: str) -> str:
    """A name usable in a file name, unique per worker process: host and pid, and a piece of
    Locust's random client id (two machines may share a host name and a pid)."""
    return "r" + re.sub(r"[^A-Za-z0-9_.-]", "_", host)[:40] + f"-{pid}-{client_id[-6:]}"


# -- the worker's side ------------------------------------------------------------------------

_configured = gevent.event.Event()
_refusal: str | None = None


def wait_configured(timeout: float = 30.0) -> None:
    """On a remote worker: block a new user until the master has handed over the run's settings."""
    if not IS_REMOTE:
        return
    if not _configured.wait(timeout):
        raise RuntimeError(f"the Locust master sent no aftershock settings within {timeout:g}s")
    if _refusal is not None:
        raise RuntimeError(f"the master refused this worker: {_refusal}")


#: The recording user's module, handed over by :func:`install`: the settings a master sends are
#: set on it, and the stop and control state it keeps are read from it. Handed over, not imported,
#: so the plugin does not import the module that installs it.
_user: ModuleType | None = None


def _user_module() -> Any:
    if _user is None:
        raise RuntimeError("harness.load.remote used before harness.load.user installed it")
    return _user


def _worker_init(environment: Any, runner: Any) -> None:
    def on_config(environment: Any, msg: Any, **_: Any) -> None:
        global _refusal
        data = msg.data
        if not data.get("accepted"):
            _refusal = str(data.get("reason"))
            log.error("the aftershock master refused this worker: %s", _refusal)
            _configured.set()
            gevent.spawn_later(0.5, runner.quit)
            return
        user = _user_module()
        user.RATE_PER_USER = float(data["rate_per_user"])
        user.REQUEST_TIMEOUT = float(data["request_timeout"])
        user.CONNECT_TIMEOUT = min(1.0, user.REQUEST_TIMEOUT)
        user.REQUEST_DEADLINE = user.CONNECT_TIMEOUT + user.REQUEST_TIMEOUT
        user.SEED = int(data["seed"])
        user.KEY_PREFIX = str(data["worker"])
        _configured.set()
        gevent.spawn(_ship_forever, runner, user)

    def on_ping(environment: Any, msg: Any, **_: Any) -> None:
        t1 = time.monotonic_ns()
        data = dict(msg.data)
        data["t1"] = t1
        data["t2"] = time.monotonic_ns()
        runner.send_message("aftershock_pong", data)

    def on_control(environment: Any, msg: Any, **_: Any) -> None:
        _user_module()._control = dict(msg.data.get("state") or {})

    def on_stop(environment: Any, msg: Any, **_: Any) -> None:
        user = _user_module()
        user._stopped = True  # no yield since: every request sent later stamped its start before this
        runner.send_message("aftershock_stopped", {"at": time.monotonic_ns()})

    runner.register_message("aftershock_config", on_config)
    runner.register_message("aftershock_ping", on_ping)
    runner.register_message("aftershock_control", on_control)
    runner.register_message("aftershock_stop", on_stop)
    locustfile = environment.parsed_options.locustfile if environment.parsed_options else ""
    runner.send_message(
        "aftershock_hello",
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "locustfile": Path(str(locustfile)).name,
            "digest": file_digest(str(locustfile)) if locustfile else "",
        },
    )


def _ship_forever(runner: Any, user: Any) -> None:
    """Send the shard's new complete lines as they are written; the last ones with the row count
    once the shard is closed and marked done."""
    path = Path(user.LEDGER_DIR) / f"ledger-{os.getpid()}.csv"
    sent = 0
    while True:
        if user._stopped and user._writer is None:  # stopped before any user ran here: no rows
            runner.send_message("aftershock_rows", {"data": "", "done": 0})
            return
        done = done_marker(path)
        finished = done.exists()  # looked at first: the lines read after it are all there are
        data = b""
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(sent)
                data = fh.read()
        if not finished:
            data = data[: data.rfind(b"\n") + 1]
        for piece in _pieces(data):
            runner.send_message("aftershock_rows", {"data": piece.decode("utf-8")})
        sent += len(data)
        if finished:
            runner.send_message("aftershock_rows", {"data": "", "done": int(done.read_text().strip() or 0)})
            return
        gevent.sleep(SHIP_INTERVAL)


def _pieces(data: bytes) -> list[bytes]:
    """``data`` in pieces of at most :data:`CHUNK` bytes, cut after a newline (whole rows, whole
    UTF-8 characters); a single longer row goes whole."""
    out = []
    while data:
        if len(data) <= CHUNK:
            cut = len(data)
        else:  # after the last newline within CHUNK, or else after the long row's own end
            cut = data.rfind(b"\n", 0, CHUNK) + 1 or data.find(b"\n", CHUNK) + 1 or len(data)
        out.append(data[:cut])
        data = data[cut:]
    return out


# -- the master's side ------------------------------------------------------------------------


@dataclass
class _Remote:
    """What the master keeps for one remote worker."""

    client_id: str
    name: str
    host: str
    shard: Path
    raw: Path
    clock: OffsetEstimator = field(default_factory=OffsetEstimator)
    pending: dict[int, int] = field(default_factory=dict)  # ping seq -> t0
    buffered: list[list[str]] = field(default_factory=list)  # rows waiting for a first estimate
    stopped_at: int | None = None  # the worker's stop, on its clock
    finished: bool = False


class _Master:
    def __init__(self, environment: Any, runner: Any, trial_dir: Path) -> None:
        self.env = environment
        self.runner = runner
        self.dir = trial_dir
        self.remotes: dict[str, _Remote] = {}
        self.seq = 0
        self.relaying = False
        opts = environment.parsed_options
        self.locustfile = str(opts.locustfile) if opts else ""
        self.digest = file_digest(self.locustfile) if self.locustfile else ""
        remote = int(os.environ.get(REMOTE_WORKERS_ENV) or 0)
        if remote and opts is not None:
            # Locust's --processes sets this to the local workers: the remote ones join the count,
            # so no user starts before every worker is connected (and clock pings have begun)
            opts.expect_workers = int(opts.expect_workers) + remote
        runner.register_message("aftershock_hello", self.on_hello)
        runner.register_message("aftershock_pong", self.on_pong)
        runner.register_message("aftershock_rows", self.on_rows)
        runner.register_message("aftershock_stopped", self.on_stopped)
        self.refused: set[str] = set()
        gevent.spawn(self._watch_workers_forever)

    def on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data
        name = worker_name(str(data["host"]), int(data["pid"]), str(msg.node_id))
        problems = []
        if data.get("version") != __version__:
            problems.append(f"aftershock {data.get('version')} on the worker, {__version__} here")
        if data.get("digest") != self.digest:
            problems.append(
                f"its locustfile {data.get('locustfile')!r} differs from {Path(self.locustfile).name!r} "
                "here (same target, same aftershock checkout on both machines)"
            )
        if problems:
            reason = f"worker {name} ({data['host']}): " + "; ".join(problems)
            (self.dir / f"remote-{name}{REFUSED_SUFFIX}").write_text(reason + "\n")
            self.refused.add(msg.node_id)
            self.runner.send_message("aftershock_config", {"accepted": False, "reason": reason}, msg.node_id)
            return
        remote = _Remote(
            client_id=msg.node_id,
            name=name,
            host=str(data["host"]),
            shard=self.dir / f"ledger-{name}.csv",
            raw=self.dir / f"remote-{name}.raw.csv",
        )
        self.remotes[msg.node_id] = remote
        with remote.shard.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(COLUMNS)  # unfinished (no done marker) from now on
        remote.raw.write_bytes(b"")
        user = _user_module()
        self.runner.send_message(
            "aftershock_config",
            {
                "accepted": True,
                "worker": name,
                "rate_per_user": user.RATE_PER_USER,
                "request_timeout": user.REQUEST_TIMEOUT,
                "seed": user.SEED * 1_000 + len(self.remotes),
            },
            msg.node_id,
        )
        gevent.spawn(self._ping_forever, remote)
        if not self.relaying:
            self.relaying = True
            gevent.spawn(self._relay_forever)

    def _ping_forever(self, remote: _Remote) -> None:
        while not remote.finished:
            self.seq += 1
            t0 = time.monotonic_ns()
            remote.pending[self.seq] = t0
            self.runner.send_message("aftershock_ping", {"seq": self.seq, "t0": t0}, remote.client_id)
            gevent.sleep(PING_INTERVAL)
            if len(remote.pending) > 100:  # answers lost (a worker gone): forget the oldest
                for seq in sorted(remote.pending)[:-100]:
                    del remote.pending[seq]
            if (
                not remote.finished
                and remote.clock.count > 0
                and (remote.clock.count <= 5 or remote.clock.count % 5 == 0)
            ):
                self._state(remote, final=False)

    def on_pong(self, environment: Any, msg: Any, **_: Any) -> None:
        t3 = time.monotonic_ns()
        remote = self.remotes.get(msg.node_id)
        data = msg.data
        if remote is None or remote.pending.pop(int(data["seq"]), None) != int(data["t0"]):
            return
        remote.clock.add(RoundTrip(int(data["t0"]), int(data["t1"]), int(data["t2"]), t3))

    def on_stopped(self, environment: Any, msg: Any, **_: Any) -> None:
        remote = self.remotes.get(msg.node_id)
        if remote is not None:
            remote.stopped_at = int(msg.data["at"])

    def on_rows(self, environment: Any, msg: Any, **_: Any) -> None:
        remote = self.remotes.get(msg.node_id)
        if remote is None or remote.finished:
            return
        text = str(msg.data.get("data", ""))
        if text:
            with remote.raw.open("a", encoding="utf-8", newline="") as fh:
                fh.write(text)
            rows = [r for r in csv.reader(io.StringIO(text)) if r and r[0] != COLUMNS[0]]
            remote.buffered.extend(rows)
            est = remote.clock.estimate()
            if est is not None:  # the live view, on the running estimate
                with remote.shard.open("a", encoding="utf-8", newline="") as fh:
                    csv.writer(fh).writerows(shift_row(r, est, remote.name) for r in remote.buffered)
                remote.buffered.clear()
        if "done" in msg.data:
            self._finish(remote, int(msg.data["done"]))

    def _finish(self, remote: _Remote, rows_said: int) -> None:
        """The worker closed its shard: rewrite it on the final estimate, state it, mark it done."""
        remote.finished = True
        est = remote.clock.estimate()
        with remote.raw.open(encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and r[0] != COLUMNS[0]]
        if est is None or len(rows) != rows_said:
            log.error(
                "remote worker %s: %s; its shard stays unmarked",
                remote.name,
                "no clock round trip came back"
                if est is None
                else f"{len(rows)} rows came, {rows_said} sent",
            )
            return
        tmp = remote.shard.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(COLUMNS)
            out.writerows(shift_row(r, est, remote.name) for r in rows)
        tmp.replace(remote.shard)
        self._state(remote, final=True)
        if remote.stopped_at is not None:  # the latest instant it may have started a request
            bound = est.to_harness(remote.stopped_at) + est.uncertainty_ns
            (self.dir / f"remote-{remote.name}{STOPPED_SUFFIX}").write_text(f"{bound}\n")
        done_marker(remote.shard).write_text(f"{len(rows)}\n")

    def _state(self, remote: _Remote, *, final: bool) -> None:
        est = remote.clock.estimate()
        if est is None:
            return
        WorkerClock(
            worker=remote.name,
            host=remote.host,
            offset_ns=est.offset_ns,
            uncertainty_ns=est.uncertainty_ns,
            best_rtt_ns=est.best_rtt_ns,
            samples=est.samples,
            consistent=est.consistent,
            final=final,
        ).write(self.dir)

    def _watch_workers_forever(self) -> None:
        """A worker that leaves before the stop - it quit, or sent Locust no heartbeat for ~3 s (a
        crash, a lost machine) - is reported at once (``worker-<n>.lost``): Locust hands its users
        to the other workers and goes on, so the load would no longer be the scenario's and, from a
        remote worker, requests it sent would be missing from the ledger. Looks every 0.1 s."""
        from locust.runners import STATE_MISSING

        stop = self.dir / STOP_FILE
        seen: dict[str, int] = {}  # client id -> its number, in the order they joined
        lost: set[str] = set()
        while not stop.exists():
            for client in list(self.runner.clients.values()):
                seen.setdefault(client.id, len(seen) + 1)
            for cid, n in seen.items():
                if cid in lost or cid in self.refused:
                    continue
                client = self.runner.clients.get(cid)
                if client is not None and client.state != STATE_MISSING:
                    continue
                if stop.exists():
                    return  # leaving after the stop is how a load ends
                lost.add(cid)
                remote = self.remotes.get(cid)
                why = "quit" if client is None else "sent no heartbeat to Locust's master for ~3 s"
                record = {
                    "worker": remote.name if remote else f"local worker {cid}",
                    "host": remote.host if remote else socket.gethostname(),
                    "why": why,
                    "at_ns": time.monotonic_ns(),
                }
                log.error("load worker %s (%s) %s before the stop", record["worker"], record["host"], why)
                (self.dir / f"worker-{n}{LOST_SUFFIX}").write_text(json.dumps(record) + "\n")
            gevent.sleep(0.1)

    def _relay_forever(self) -> None:
        """The harness's control and stop files, passed on to every remote worker (20 ms looks)."""
        control, stop = self.dir / CONTROL_FILE, self.dir / STOP_FILE
        last: int | None = None
        while True:
            live = [r for r in self.remotes.values() if not r.finished]
            if stop.exists():
                for r in live:
                    self.runner.send_message("aftershock_stop", {}, r.client_id)
                return
            try:
                stamp = control.stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp != last:
                state = {}
                if stamp is not None:
                    try:
                        state = json.loads(control.read_text())
                    except (OSError, ValueError):
                        stamp = last  # being replaced: look again
                if stamp != last:
                    for r in live:
                        self.runner.send_message("aftershock_control", {"state": state}, r.client_id)
                    last = stamp
            gevent.sleep(0.02)


def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    if isinstance(runner, MasterRunner):
        _Master(environment, runner, _user_module().LEDGER_DIR)
    elif isinstance(runner, WorkerRunner) and IS_REMOTE:
        _worker_init(environment, runner)


def install(user_module: ModuleType) -> None:
    """Hook the plugin into Locust (called once by :mod:`harness.load.user`, which hands itself over)."""
    global _user
    from locust import events

    _user = user_module

    events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
