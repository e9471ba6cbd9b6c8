"""The orders audit reads its effects and its pending count from one snapshot.

Found by the payments-down rehearsal on a loaded machine: the drain polls the audit while the
worker finishes the backlog; a job confirmed between the audit's two queries showed its order
'charged' beside "0 pending", the drain stopped on that answer, and a finished order was reported
stuck. Here a real Postgres, and a real commit from a second connection made exactly between the
two queries."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from harness.net import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.integration
ORDERS = REPO / "targets" / "orders"


def orders_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("orders_api_under_test", ORDERS / "api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CommitBetweenQueries:
    """A connection that lets another connection commit right after its first ``fetch``."""

    def __init__(self, conn: asyncpg.Connection, other: asyncpg.Connection, sql: str) -> None:
        self._conn, self._other, self._sql = conn, other, sql
        self.fired = False

    async def fetch(self, *args: Any) -> Any:
        rows = await self._conn.fetch(*args)
        if not self.fired:
            self.fired = True
            await self._other.execute(self._sql)
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def postgres() -> Any:
    port = free_port()
    # under /tmp itself: as root, db.py hands the directory to an unprivileged postgres user, who
    # could not reach it inside pytest's private tmp_path
    workdir = Path(tempfile.mkdtemp(prefix="aftershock-pg-test-"))
    proc = subprocess.Popen(
        [sys.executable, str(ORDERS / "db.py"), "--port", str(port), "--workdir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "db.py exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "postgres did not listen within 60 s"
                time.sleep(0.2)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def test_effects_and_pending_come_from_one_snapshot(postgres: str) -> None:
    api = orders_api()

    async def scenario() -> tuple[list[Any], int]:
        for _ in range(50):  # postgres accepts TCP a little before it accepts logins
            try:
                conn = await asyncpg.connect(postgres)
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.2)
        other = await asyncpg.connect(postgres)
        try:
            await conn.execute(api.SCHEMA)
            order = uuid.uuid4()
            await conn.execute(
                "INSERT INTO orders (id, idempotency_key, item, qty, amount_cents, status)"
                " VALUES ($1, 'k1', 'mug', 1, 1200, 'charged')",
                order,
            )
            await conn.execute("INSERT INTO jobs (order_id) VALUES ($1)", order)
            confirm = "BEGIN; UPDATE orders SET status='confirmed'; UPDATE jobs SET done=true; COMMIT"
            wrapped = CommitBetweenQueries(conn, other, confirm)
            rows, pending = await api.read_audit(wrapped)
            assert wrapped.fired
            return rows, pending
        finally:
            await conn.close()
            await other.close()

    rows, pending = asyncio.run(scenario())
    (row,) = rows
    # one snapshot: either still charged with its job pending, or confirmed with nothing pending
    assert (row["status"], pending) in {("charged", 1), ("confirmed", 0)}, (row["status"], pending)
