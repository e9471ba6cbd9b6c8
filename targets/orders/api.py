"""The orders API: accept orders, enqueue their workflow, answer reads and the audit.

Resilient (default):

* every database call has a deadline (``ORDERS_DB_TIMEOUT``, default 1 s); a connection that
  failed or timed out is terminated, never returned to the pool;
* ``Idempotency-Key`` is a unique column: a replay returns the first answer, never a second order;
* the order row and its job are written in one transaction, and the client hears "201" only after
  the commit;
* money is integer cents.

Fragile (``ORDERS_FRAGILE=1``), three mistakes seen in real systems:

* *write-behind*: "201 Accepted" is sent first and the insert runs afterwards in the background;
  if the database is unreachable then, the acknowledged order is silently lost;
* *no idempotency*: the key is stored but not unique, so a retried request makes a second order;
* *money as a float*: the amount is stored in a ``real`` column in dollars, which cannot hold
  every cent above ~$1000.

Endpoints: ``POST /orders`` (header ``Idempotency-Key``; JSON ``item``, ``qty``, ``amount_cents``),
``GET /orders/{id}``, ``GET /health``, ``GET /audit`` (the audit contract: ``effects`` and ``pending``),
``GET /metrics`` (Prometheus: requests by route and status, and their latency).

Every order is a work item: ``accepted_ns`` is stamped when it is accepted (on
``CLOCK_MONOTONIC``, the run's clock, shared by every process on the machine), the worker stamps
``finished_ns`` when it confirms it, and the audit reports both with the job's ``attempts``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

T = TypeVar("T")
DB_TIMEOUT = float(os.environ.get("ORDERS_DB_TIMEOUT", "1.0"))
FRAGILE = os.environ.get("ORDERS_FRAGILE", "") not in ("", "0")
VERSION = os.environ.get("ORDERS_API_VERSION", "v1")
# Feature flags, flipped at run time through POST /admin/flags (no redeploy). v2 ships its new
# pricing switched on; v1 does not have that code at all.
FLAGS: dict[str, bool] = {"new_pricing": VERSION == "v2"}
BULK_TIERS = {1: 1.0, 2: 1.0, 3: 0.95}  # the v2 pricing table; nobody added the bulk tiers

# What users feel, per route: the symptom alerts (targets/orders/alerts.yml) are written on these.
REQUESTS = Counter("orders_http_requests_total", "HTTP requests answered", ["route", "code"])
LATENCY = Histogram(
    "orders_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ACCEPTED = Counter("orders_accepted_total", "orders accepted (the work that enters the backlog)")


def price(qty: int, amount: int) -> int:
    """The amount to store. v2's new pricing is the bad release the rollback rehearsals undo:
    bulk orders hit a missing pricing tier (a KeyError, so HTTP 500), and every other order is
    stored with a 10 % discount the client never agreed to (wrong data, acknowledged as right)."""
    if VERSION == "v2" and FLAGS["new_pricing"]:
        return round(amount * 0.9 * BULK_TIERS[qty] / BULK_TIERS[min(qty, 3)])
    return amount


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL {"" if FRAGILE else "UNIQUE"},
    item            text NOT NULL,
    qty             integer NOT NULL,
    amount_cents    bigint,
    amount_dollars  real,
    status          text NOT NULL DEFAULT 'pending',
    accepted_ns     bigint,
    finished_ns     bigint,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS jobs (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL,
    done         boolean NOT NULL DEFAULT false,
    attempts     integer NOT NULL DEFAULT 0,
    leased_until timestamptz,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS jobs_todo ON jobs (id) WHERE NOT done;
"""


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Nothing session-scoped is used, and a reset is a round trip that can hang in a partition."""


async def release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Return a connection; if that fails (it was cut off), drop it - never fail the caller."""
    try:
        await asyncio.wait_for(pool.release(conn), DB_TIMEOUT)
    except Exception:
        conn.terminate()


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
            password=os.environ.get("AFTERSHOCK_SECRET"),  # the run's database password (db.py)
            reset=_no_reset,
        )
        await self.run(lambda c: c.execute(SCHEMA))

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], timeout: float = DB_TIMEOUT) -> T:
        """Run ``fn`` on a pooled connection within the deadline; a failed connection is discarded."""
        assert self.pool is not None
        try:
            conn = await asyncio.wait_for(self.pool.acquire(), DB_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"connect: {type(exc).__name__}") from exc
        try:
            return await asyncio.wait_for(fn(conn), timeout)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            conn.terminate()
            raise DatabaseUnavailable(f"query: {type(exc).__name__}") from exc
        except BaseException:
            conn.terminate()
            raise
        finally:
            await release(self.pool, conn)


def amount_of(row: asyncpg.Record) -> int:
    if row["amount_cents"] is not None:
        return int(row["amount_cents"])
    return int(row["amount_dollars"] * 100)  # the float mistake shows here


def order_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "idempotency_key": row["idempotency_key"],
        "item": row["item"],
        "qty": row["qty"],
        "amount_cents": amount_of(row),
        "status": row["status"],
    }


def unavailable(exc: DatabaseUnavailable) -> web.Response:
    return web.json_response(
        {"error": "database unavailable", "detail": str(exc)}, status=503, headers={"Retry-After": "1"}
    )


async def insert_order(
    c: asyncpg.Connection, order_id: uuid.UUID, key: str, item: str, qty: int, amount: int, accepted_ns: int
) -> tuple[asyncpg.Record, bool]:
    async with c.transaction():
        if FRAGILE:
            row = await c.fetchrow(
                "INSERT INTO orders (id, idempotency_key, item, qty, amount_dollars, accepted_ns)"
                " VALUES ($1,$2,$3,$4,$5,$6) RETURNING *",
                order_id,
                key,
                item,
                qty,
                amount / 100,
                accepted_ns,
            )
        else:
            row = await c.fetchrow(
                "INSERT INTO orders (id, idempotency_key, item, qty, amount_cents, accepted_ns)"
                " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
                order_id,
                key,
                item,
                qty,
                amount,
                accepted_ns,
            )
        if row is None:
            existing = await c.fetchrow("SELECT * FROM orders WHERE idempotency_key = $1", key)
            return existing, False
        await c.execute("INSERT INTO jobs (order_id) VALUES ($1)", order_id)
        return row, True


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
    order_id = uuid.uuid4()
    amount = price(qty, amount)
    accepted_ns = time.monotonic_ns()  # fragile: the instant the 201 goes out, before any write

    if FRAGILE:
        # write-behind: answer now, write later, and forget the write if it fails
        async def write_later() -> None:
            try:
                await store.run(lambda c: insert_order(c, order_id, key, item, qty, amount, accepted_ns))
            except Exception as exc:
                print(f"write-behind failed for {key}: {exc!r}", flush=True)

        request.app["background"].add(task := asyncio.get_running_loop().create_task(write_later()))
        task.add_done_callback(request.app["background"].discard)
        ACCEPTED.inc()
        return web.json_response(
            {
                "id": str(order_id),
                "idempotency_key": key,
                "item": item,
                "qty": qty,
                "amount_cents": amount,
                "status": "pending",
            },
            status=201,
        )
    try:
        row, created = await store.run(
            lambda c: insert_order(c, order_id, key, item, qty, amount, time.monotonic_ns())
        )
    except DatabaseUnavailable as exc:
        return unavailable(exc)
    if created:
        ACCEPTED.inc()
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
    return web.json_response({"status": "ok", "fragile": FRAGILE, "version": VERSION, "flags": FLAGS})


async def set_flags(request: web.Request) -> web.Response:
    """Flip feature flags without a redeploy: the fastest rollback there is."""
    try:
        body = await request.json()
        updates = {str(k): bool(v) for k, v in body.items()}
    except (ValueError, AttributeError):
        return web.json_response({"error": "JSON object of flag: bool"}, status=400)
    unknown = sorted(set(updates) - set(FLAGS))
    if unknown:
        return web.json_response({"error": f"unknown flags: {unknown}", "flags": FLAGS}, status=400)
    FLAGS.update(updates)
    print(f"flags now {FLAGS}", flush=True)
    return web.json_response({"flags": FLAGS})


async def read_audit(c: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every order with its job's attempts, in one query (one snapshot)."""
    return list(
        await c.fetch(
            "SELECT o.*, j.attempts FROM orders o LEFT JOIN jobs j ON j.order_id = o.id ORDER BY o.created_at"
        )
    )


async def audit(request: web.Request) -> web.Response:
    """The audit contract (docs/audit.md): every effect (an order per key) and the work pending.

    Queued work is reported once: an order whose job is still queued is already an effect (its
    status says how far it got), so ``pending`` counts only what has no row yet - the fragile
    mode's write-behind inserts still in flight.
    """
    store: Store = request.app["store"]

    rows = await store.run(read_audit, timeout=30)
    effects = [
        {
            "kind": "order",
            "key": r["idempotency_key"],
            "id": str(r["id"]),
            "value": amount_of(r),
            "status": r["status"],
            # the work item, on the run clock (CLOCK_MONOTONIC ns): backlog and cycle time
            "accepted_ns": r["accepted_ns"],
            "finished_ns": r["finished_ns"],
            "attempts": r["attempts"],
        }
        for r in rows
    ]
    return web.json_response({"effects": effects, "pending": len(request.app["background"])})


def route_of(request: web.Request) -> str:
    """The route pattern (``/orders/{id}``), never the raw path: labels must stay few."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def measured(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count and time every answer by route and status, as users saw it."""
    started = time.perf_counter()
    code = 500
    try:
        response: web.StreamResponse = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        route = route_of(request)
        if route != "/metrics":
            REQUESTS.labels(route, str(code)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


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
    app = web.Application(middlewares=[measured])
    app["store"] = store
    app["background"] = set()
    app.router.add_post("/orders", create_order)
    app.router.add_get("/orders/{id}", get_order)
    app.router.add_get("/health", health)
    app.router.add_get("/audit", audit)
    app.router.add_post("/admin/flags", set_flags)
    app.router.add_get("/metrics", metrics)
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
