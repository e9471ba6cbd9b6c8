"""The orders API: create and read orders, backed by PostgreSQL through a Toxiproxy link.

Resilience that matters for the rehearsals:

* every database call has a deadline (``ORDERS_DB_TIMEOUT``, default 1 s): a slow or black-holed
  database costs one bounded wait, never a hung request;
* a connection that failed or timed out is terminated, not returned to the pool, so recovery
  after the database comes back is one reconnect away;
* writes are idempotent: ``Idempotency-Key`` is a unique column, a replay returns the first answer.

Endpoints: ``POST /orders`` (header ``Idempotency-Key``; JSON ``item``, ``qty``, ``amount_cents``),
``GET /orders/{id}``, ``GET /health`` (database reachable), ``GET /audit`` (every order, for
reconciliation after the run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

T = TypeVar("T")
DB_TIMEOUT = float(os.environ.get("ORDERS_DB_TIMEOUT", "1.0"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    item            text NOT NULL,
    qty             integer NOT NULL,
    amount_cents    bigint NOT NULL,
    status          text NOT NULL DEFAULT 'created',
    created_at      timestamptz NOT NULL DEFAULT now()
);
"""


class DatabaseUnavailable(Exception):
    pass


class Store:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=20,
            timeout=DB_TIMEOUT,
            command_timeout=DB_TIMEOUT,
            max_inactive_connection_lifetime=30,
        )
        await self.run(lambda c: c.execute(SCHEMA))

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection within the deadline; a failed connection is discarded."""
        assert self.pool is not None
        try:
            conn = await asyncio.wait_for(self.pool.acquire(), DB_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"connect: {type(exc).__name__}") from exc
        try:
            return await asyncio.wait_for(fn(conn), DB_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            conn.terminate()
            raise DatabaseUnavailable(f"query: {type(exc).__name__}") from exc
        except BaseException:
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn)


def order_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "idempotency_key": row["idempotency_key"],
        "item": row["item"],
        "qty": row["qty"],
        "amount_cents": row["amount_cents"],
        "status": row["status"],
    }


def unavailable(exc: DatabaseUnavailable) -> web.Response:
    return web.json_response(
        {"error": "database unavailable", "detail": str(exc)}, status=503, headers={"Retry-After": "1"}
    )


async def create_order(request: web.Request) -> web.Response:
    store: Store = request.app["store"]
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        return web.json_response({"error": "Idempotency-Key header is required"}, status=400)
    try:
        body = await request.json()
        item, qty, amount = str(body["item"]), int(body["qty"]), int(body["amount_cents"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "body must be JSON with item, qty, amount_cents"}, status=400)

    async def insert(c: asyncpg.Connection) -> tuple[asyncpg.Record, bool]:
        row = await c.fetchrow(
            "INSERT INTO orders (id, idempotency_key, item, qty, amount_cents) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
            uuid.uuid4(),
            key,
            item,
            qty,
            amount,
        )
        if row is not None:
            return row, True
        existing = await c.fetchrow("SELECT * FROM orders WHERE idempotency_key = $1", key)
        return existing, False

    try:
        row, created = await store.run(insert)
    except DatabaseUnavailable as exc:
        return unavailable(exc)
    return web.json_response(order_json(row), status=201 if created else 200)


async def get_order(request: web.Request) -> web.Response:
    store: Store = request.app["store"]
    try:
        order_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        return web.json_response({"error": "not an order id"}, status=400)
    try:
        row = await store.run(lambda c: c.fetchrow("SELECT * FROM orders WHERE id = $1", order_id))
    except DatabaseUnavailable as exc:
        return unavailable(exc)
    if row is None:
        return web.json_response({"error": "no such order"}, status=404)
    return web.json_response(order_json(row))


async def health(request: web.Request) -> web.Response:
    store: Store = request.app["store"]
    try:
        await store.run(lambda c: c.fetchval("SELECT 1"))
    except DatabaseUnavailable as exc:
        return unavailable(exc)
    return web.json_response({"status": "ok"})


async def audit(request: web.Request) -> web.Response:
    store: Store = request.app["store"]
    rows = await store.run(lambda c: c.fetch("SELECT * FROM orders ORDER BY created_at"))
    return web.json_response({"orders": [order_json(r) for r in rows], "count": len(rows)})


async def make_app(dsn: str) -> web.Application:
    store = Store(dsn)
    for attempt in range(50):  # the database may still be finishing its start-up
        try:
            await store.open()
            break
        except (TimeoutError, OSError, DatabaseUnavailable, asyncpg.PostgresError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    app = web.Application()
    app["store"] = store
    app.router.add_post("/orders", create_order)
    app.router.add_get("/orders/{id}", get_order)
    app.router.add_get("/health", health)
    app.router.add_get("/audit", audit)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--db", required=True, help="postgresql://user@host:port/db (the link's proxy address)")
    args = ap.parse_args()
    web.run_app(
        make_app(args.db), host=args.host, port=args.port, access_log=None, print=None, shutdown_timeout=1.0
    )


if __name__ == "__main__":
    main()
