"""Live container logs: each container's output streamed into the run directory as it happens."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from docker import DockerClient


class LiveLog:
    """``<run_dir>/services/<name>.log``, written while the container runs (like the process backend).

    Why live: faults such as "crash the worker mid-job" (``when_log``) tail this file to time the
    kill. A follower thread streams the container's output with Docker's timestamps; the last one
    written is remembered, so a stream reopened after an idle read timeout, or after a restart of
    the container, continues exactly where the file stopped (no line twice, none lost).
    :meth:`catch_up` reads what the follower has not written yet (after a stop, or if the follower
    died) and is safe to call at any time. Lines longer than Docker's 16 KiB log chunks may be split.
    """

    def __init__(self, path: Path, client: DockerClient) -> None:
        self.path = path
        self.client = client
        self._lock = threading.Lock()
        self._last: tuple[str, int] = ("", -1)  # (seconds part of the timestamp, nanoseconds)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def marker(self, text: str) -> None:
        with self._lock, self.path.open("ab") as fh:
            fh.write(f"--- aftershock: {text}\n".encode())

    def _since(self) -> int | None:
        """Whole seconds of the last line written (None: from the start); older lines are skipped."""
        stamp = self._last[0]
        if not stamp:
            return None
        return int(dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp())

    def _feed(self, data: bytes) -> None:
        out = bytearray()
        for raw in data.split(b"\n"):
            if not raw:
                continue
            stamp, _, line = raw.partition(b" ")
            text = stamp.decode(errors="replace").rstrip("Z")
            seconds, _, fraction = text.partition(".")
            key = (seconds, int((fraction + "000000000")[:9]) if fraction.isdigit() else 0)
            if key <= self._last:
                continue
            self._last = key
            out += line + b"\n"
        if out:
            with self.path.open("ab") as fh:
                fh.write(out)

    def follow(self, container_id: str) -> None:
        """Stream the container's output into the file until it stops (a daemon thread)."""
        self._stop.clear()
        thread = threading.Thread(
            target=self._run, args=(container_id,), name=f"aftershock-log-{self.path.stem}", daemon=True
        )
        self._thread = thread
        thread.start()

    def _run(self, container_id: str) -> None:
        from docker.errors import DockerException, NotFound

        while not self._stop.is_set():
            try:
                stream = self.client.api.logs(
                    container_id, stream=True, follow=True, timestamps=True, since=self._since()
                )
                for chunk in stream:
                    with self._lock:
                        self._feed(chunk)
                return  # the stream ends when the container stops
            except NotFound:
                return
            except Exception as exc:  # this thread must never die silently with the file stale
                # An idle stream hits the client's read timeout: reopen it while the container runs.
                try:
                    running = bool(self.client.api.inspect_container(container_id)["State"]["Running"])
                except (DockerException, requests.RequestException):
                    running = False
                if not running:
                    self.error = exc
                    return
                time.sleep(0.1)

    def catch_up(self, container_id: str) -> None:
        data = self.client.api.logs(container_id, stream=False, timestamps=True, since=self._since())
        with self._lock:
            self._feed(bytes(data))

    def close(self, container_id: str | None, timeout: float = 5.0) -> None:
        """Stop following (the container has stopped) and write whatever is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if container_id is not None:
            self.catch_up(container_id)


# -- the backend --------------------------------------------------------------------------
