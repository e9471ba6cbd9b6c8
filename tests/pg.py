"""Logging in to a target's PostgreSQL from a test, as a client of the target would."""

from __future__ import annotations

import asyncio


def current_user(host: str, port: int, password: str | None) -> str:
    """``select current_user`` as ``postgres`` with ``password``; ``refused: ...`` when the server
    turns the login down (no password, a wrong one)."""
    import asyncpg

    async def ask() -> str:
        try:
            conn = await asyncpg.connect(
                host=host, port=port, user="postgres", database="postgres", password=password, timeout=10
            )
        except asyncpg.PostgresError as exc:
            return f"refused: {exc}"
        try:
            return str(await conn.fetchval("select current_user"))
        finally:
            await conn.close()

    return asyncio.run(ask())
