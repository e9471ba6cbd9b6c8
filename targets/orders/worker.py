"""The orders worker: takes each order through reserve -> charge -> confirm.

Resilient (default), the promises the rehearsals check:

* *a crash resumes from the checkpoint*: a job is leased (``FOR UPDATE SKIP LOCKED`` plus a lease
  that expires), never deleted before it is done; the order's status is the checkpoint, written
  after each step, so a restarted worker continues where the dead one stopped;
* *a slow dependency gets a scheduled retry*: exponential backoff with full jitter, a retry budget
  per attempt; when it is spent the job goes back to the queue, it is not dropped;
* *an unavailable dependency pauses the work*: a circuit breaker opens after consecutive payment
  failures; while open the worker takes no job and probes again after a cool-down;
* *a retried charge is not a second charge*: payments get an idempotency key per order.

Fragile (``ORDERS_FRAGILE=1``): the job is acknowledged (marked done) when taken, the steps run in
memory with one write at the end (no checkpoint), payments are retried immediately without an
idempotency key, and a job whose retries fail is dropped.

The worker logs ``job <id> step <name>`` before each step: a rehearsal can crash it mid-job by
watching for that line.

It stamps ``finished_ns`` (CLOCK_MONOTONIC, the run's clock) on the order it confirms, adds the
step retries of that job to the job's ``attempts``, and exposes Prometheus metrics on ``/metrics``:
the backlog of unconfirmed orders and the age of the oldest one (what customers wait for), payment
failures, retries, drops and the breaker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

FRAGILE = os.environ.get("ORDERS_FRAGILE", "") not in ("", "0")
DB_TIMEOUT = float(os.environ.get("ORDERS_DB_TIMEOUT", "1.0"))
PAY_TIMEOUT = float(os.environ.get("ORDERS_PAYMENTS_TIMEOUT", "1.0"))
LEASE_S = float(os.environ.get("ORDERS_LEASE", "3"))
CONCURRENCY = int(os.environ.get("ORDERS_WORKER_CONCURRENCY", "8"))
# The business logic of each step (stock checks, fraud rules) takes time, as real steps do: a
# crash that lands "in the middle of a job" has a middle to land in.
WORK_S = float(os.environ.get("ORDERS_WORK_MS", "25")) / 1000
PREFETCH = 5  # fragile: jobs taken (and acknowledged) at once
RETRY_BUDGET = 6
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 1.0
BACKLOG_EVERY = 0.5  # seconds between two reads of the backlog

# The business symptoms (orders waiting) and the causes (payments failing), for the alert rules.
BACKLOG = Gauge("orders_backlog", "orders accepted and not yet confirmed (last successful read)")
OLDEST_ACCEPTED_NS: list[int | None] = [None]
OLDEST_AGE = Gauge(
    "orders_oldest_unconfirmed_age_seconds", "how long the oldest unconfirmed order has waited (0: none)"
)
OLDEST_AGE.set_function(
    lambda: 0.0 if OLDEST_ACCEPTED_NS[0] is None else (time.monotonic_ns() - OLDEST_ACCEPTED_NS[0]) / 1e9
)
BACKLOG_READ_OK = Gauge("orders_backlog_read_ok", "1 if the last read of the backlog succeeded")
CONFIRMED = Counter("orders_confirmed_total", "orders taken to confirmed")
PAYMENT_FAILURES = Counter("orders_payment_failures_total", "calls to payments that failed")
STEP_RETRIES = Counter("orders_step_retries_total", "steps retried after a transient failure")
DROPPED = Counter("orders_jobs_dropped_total", "jobs given up (fragile mode drops them)")
BREAKER_OPEN = Gauge("orders_breaker_open", "1 while the payments circuit breaker is open")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Nothing session-scoped is used, and a reset is a round trip that can hang in a partition."""


async def release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Return a connection; if that fails (it was cut off), drop it - never fail the caller."""
    try:
        await asyncio.wait_for(pool.release(conn), DB_TIMEOUT)
    except Exception:
        conn.terminate()


class Transient(Exception):
    """A dependency failed in a way worth retrying."""


class Breaker:
    """Opens after consecutive failures; half-open after a cool-down (one probe at a time)."""

    def __init__(self) -> None:
        self.failures = 0
        self.open_until = 0.0

    def allow(self) -> bool:
        return time.monotonic() >= self.open_until

    def success(self) -> None:
        self.failures = 0

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= BREAKER_THRESHOLD:
            self.open_until = time.monotonic() + BREAKER_COOLDOWN
            print(f"breaker open for {BREAKER_COOLDOWN}s after {self.failures} failures", flush=True)


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 2 s."""
    return random.uniform(0, min(2.0, 0.05 * 2**attempt))


class Worker:
    def __init__(self, db: str, payments: str) -> None:
        self.dsn = db
        self.payments = f"http://{payments}"
        self.pool: asyncpg.Pool | None = None
        self.http: aiohttp.ClientSession | None = None
        self.breaker = Breaker()
        self.done = 0
        self.retries: dict[int, int] = {}  # job id -> step retries, added to its attempts
        BREAKER_OPEN.set_function(lambda: 0.0 if self.breaker.allow() else 1.0)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=CONCURRENCY + 2,
            password=os.environ.get("AFTERSHOCK_SECRET"),  # the run's database password (db.py)
            timeout=DB_TIMEOUT,
            command_timeout=DB_TIMEOUT,
            reset=_no_reset,
        )
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PAY_TIMEOUT))

    async def db(self, fn: Any) -> Any:
        assert self.pool is not None
        try:
            conn = await asyncio.wait_for(self.pool.acquire(), DB_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Transient(f"db connect: {type(exc).__name__}") from exc
        try:
            return await asyncio.wait_for(fn(conn), DB_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            conn.terminate()
            raise Transient(f"db: {type(exc).__name__}") from exc
        except BaseException:
            conn.terminate()
            raise
        finally:
            await release(self.pool, conn)

    async def charge(self, order: asyncpg.Record) -> None:
        assert self.http is not None
        amount = (
            order["amount_cents"] if order["amount_cents"] is not None else int(order["amount_dollars"] * 100)
        )
        headers = {} if FRAGILE else {"Idempotency-Key": f"charge-{order['id']}"}
        try:
            async with self.http.post(
                f"{self.payments}/charges",
                headers=headers,
                json={"reference": order["idempotency_key"], "amount_cents": amount},
            ) as r:
                if r.status >= 500:
                    PAYMENT_FAILURES.inc()
                    raise Transient(f"payments HTTP {r.status}")
                if r.status >= 400:
                    PAYMENT_FAILURES.inc()
                    raise RuntimeError(f"payments refused: HTTP {r.status}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            PAYMENT_FAILURES.inc()
            raise Transient(f"payments: {type(exc).__name__}") from exc

    # -- resilient ------------------------------------------------------------------------
    async def lease(self) -> asyncpg.Record | None:
        async def take(c: asyncpg.Connection) -> asyncpg.Record | None:
            async with c.transaction():
                job = await c.fetchrow(
                    "SELECT id, order_id FROM jobs WHERE NOT done AND"
                    " (leased_until IS NULL OR leased_until < clock_timestamp())"
                    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
                if job is not None:
                    await c.execute(
                        "UPDATE jobs SET leased_until = clock_timestamp() + $2::float * interval '1s',"
                        " attempts = attempts + 1 WHERE id = $1",
                        job["id"],
                        LEASE_S,
                    )
                return job

        result: asyncpg.Record | None = await self.db(take)
        return result

    async def step(self, fn: Any, job_id: int | None = None) -> Any:
        """One step with backoff and a retry budget; payments failures feed the breaker."""
        for attempt in range(RETRY_BUDGET):
            try:
                return await fn()
            except Transient as exc:
                if "payments" in str(exc):
                    self.breaker.failure()
                if attempt == RETRY_BUDGET - 1:
                    raise
                STEP_RETRIES.inc()
                if job_id is not None:
                    self.retries[job_id] = self.retries.get(job_id, 0) + 1
                await asyncio.sleep(backoff(attempt))
                while not self.breaker.allow():  # pause, do not hammer a dependency that is down
                    await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def process(self, job: asyncpg.Record) -> None:
        order_id = job["order_id"]
        order = await self.step(
            lambda: self.db(lambda c: c.fetchrow("SELECT * FROM orders WHERE id=$1", order_id))
        )
        if order is None:
            return
        status = order["status"]
        if status == "pending":
            print(f"job {job['id']} step reserve", flush=True)
            await asyncio.sleep(WORK_S)
            await self.step(
                lambda: self.db(
                    lambda c: c.execute(
                        "UPDATE orders SET status='reserved', updated_at=clock_timestamp()"
                        " WHERE id=$1 AND status='pending'",
                        order_id,
                    )
                )
            )
            status = "reserved"
        if status == "reserved":
            print(f"job {job['id']} step charge", flush=True)
            await asyncio.sleep(WORK_S)
            await self.step(lambda: self.charge(order), job["id"])
            self.breaker.success()
            await self.step(
                lambda: self.db(
                    lambda c: c.execute(
                        "UPDATE orders SET status='charged', updated_at=clock_timestamp()"
                        " WHERE id=$1 AND status='reserved'",
                        order_id,
                    )
                )
            )
            status = "charged"
        if status == "charged":
            print(f"job {job['id']} step confirm", flush=True)
            await asyncio.sleep(WORK_S)

            async def confirm(c: asyncpg.Connection) -> None:
                async with c.transaction():
                    await c.execute(
                        "UPDATE orders SET status='confirmed', updated_at=clock_timestamp(),"
                        " finished_ns=$2 WHERE id=$1 AND status='charged'",
                        order_id,
                        time.monotonic_ns(),
                    )
                    await c.execute(
                        "UPDATE jobs SET done=true, attempts = attempts + $2 WHERE id=$1",
                        job["id"],
                        self.retries.get(job["id"], 0),
                    )

            await self.step(lambda: self.db(confirm))
            self.retries.pop(job["id"], None)
            CONFIRMED.inc()
        elif status == "confirmed":
            await self.step(
                lambda: self.db(lambda c: c.execute("UPDATE jobs SET done=true WHERE id=$1", job["id"]))
            )
        self.done += 1

    async def loop_resilient(self) -> None:
        idle = 0
        while True:
            if not self.breaker.allow():
                await asyncio.sleep(0.05)
                continue
            try:
                job = await self.lease()
            except Exception as exc:  # Transient, or anything unforeseen: back off, never die
                await asyncio.sleep(backoff(min(idle, 5)))
                idle += 1
                if not isinstance(exc, Transient):
                    print(f"lease failed: {exc!r}", flush=True)
                continue
            if job is None:
                await asyncio.sleep(0.02)
                continue
            idle = 0
            try:
                await self.process(job)
            except Exception as exc:
                # budget spent or an unforeseen error: the job goes back to the queue when its lease
                # expires; it is retried, never dropped
                print(f"job {job['id']} deferred: {exc!r}", flush=True)

    async def watch_backlog(self) -> None:
        """Read the backlog every BACKLOG_EVERY s for the metrics. When the database cannot be
        read, the oldest order's age keeps growing from its last known stamp: nothing was
        confirmed that we saw, and the alert must not go quiet because its source did."""
        while True:
            try:
                count, oldest = await self.db(
                    lambda c: c.fetchrow(
                        "SELECT count(*), min(accepted_ns) FROM orders WHERE status <> 'confirmed'"
                    )
                )
                BACKLOG.set(count)
                OLDEST_ACCEPTED_NS[0] = oldest
                BACKLOG_READ_OK.set(1)
            except Exception:
                BACKLOG_READ_OK.set(0)
            await asyncio.sleep(BACKLOG_EVERY)

    # -- fragile --------------------------------------------------------------------------
    async def loop_fragile(self) -> None:
        """Prefetch a few jobs and acknowledge them on the spot (auto-ack with prefetch): whatever
        the worker has not finished when it dies is gone."""
        while True:

            async def take(c: asyncpg.Connection) -> list[asyncpg.Record]:
                async with c.transaction():
                    jobs = await c.fetch(
                        "SELECT id, order_id FROM jobs WHERE NOT done ORDER BY id LIMIT $1"
                        " FOR UPDATE SKIP LOCKED",
                        PREFETCH,
                    )
                    if jobs:
                        await c.execute(
                            "UPDATE jobs SET done=true WHERE id = ANY($1::bigint[])", [j["id"] for j in jobs]
                        )  # ack first
                    return list(jobs)

            try:
                jobs = await self.db(take)
            except Transient:
                await asyncio.sleep(0.05)
                continue
            if not jobs:
                await asyncio.sleep(0.02)
                continue
            for job in jobs:
                await self.process_fragile(job)

    async def process_fragile(self, job: asyncpg.Record) -> None:
        """All steps in memory, one write at the end (no checkpoint); immediate retries, no key."""
        order_id = job["order_id"]
        try:
            order = await self.db(lambda c: c.fetchrow("SELECT * FROM orders WHERE id=$1", order_id))
            print(f"job {job['id']} step reserve", flush=True)
            await asyncio.sleep(WORK_S)
            print(f"job {job['id']} step charge", flush=True)
            await asyncio.sleep(WORK_S)
            for attempt in range(5):
                try:
                    await self.charge(order)
                    break
                except Transient:
                    if attempt == 4:
                        raise
            print(f"job {job['id']} step confirm", flush=True)
            await asyncio.sleep(WORK_S)
            await self.db(
                lambda c: c.execute(
                    "UPDATE orders SET status='confirmed', finished_ns=$2 WHERE id=$1",
                    order_id,
                    time.monotonic_ns(),
                )
            )
            self.done += 1
            CONFIRMED.inc()
        except Exception as exc:
            DROPPED.inc()
            print(f"job {job['id']} dropped: {exc!r}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    worker = Worker(args.db, args.payments)
    for attempt in range(50):
        try:
            await worker.open()
            break
        except (TimeoutError, OSError, asyncpg.PostgresError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    print("worker ready: database connected", flush=True)

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "done": worker.done,
                "fragile": FRAGILE,
                "breaker_open": not worker.breaker.allow(),
            }
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    loop = worker.loop_fragile if FRAGILE else worker.loop_resilient
    await asyncio.gather(worker.watch_backlog(), *(loop() for _ in range(CONCURRENCY)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--db", required=True)
    ap.add_argument("--payments", required=True, help="host:port of payments (the link's proxy)")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
