"""A fake third-party payments API: the money truth of the orders target.

``POST /charges`` with JSON ``reference`` (the order's idempotency key) and ``amount_cents``
captures a charge. With an ``Idempotency-Key`` header a repeated request returns the first
charge instead of capturing another, as real payment providers do; without one, every request
moves money. Charges are appended to a file in ``--workdir``, so a restart keeps them.
``GET /audit`` lists every charge (the audit contract's ``effects``) and the number of calls.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

from aiohttp import web


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.charges: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.calls = 0
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    self._remember(json.loads(line))
        self._ids = itertools.count(len(self.charges) + 1)
        self._file = path.open("a")

    def _remember(self, charge: dict[str, Any]) -> None:
        self.charges.append(charge)
        if charge.get("idempotency_key"):
            self.by_key[charge["idempotency_key"]] = charge

    def capture(self, reference: str, amount: int, key: str | None) -> tuple[dict[str, Any], bool]:
        if key and key in self.by_key:
            return self.by_key[key], False
        charge = {
            "id": f"ch_{next(self._ids)}",
            "reference": reference,
            "amount_cents": amount,
            "idempotency_key": key,
        }
        self._file.write(json.dumps(charge) + "\n")
        self._file.flush()
        self._remember(charge)
        return charge, True


async def charge(request: web.Request) -> web.Response:
    ledger: Ledger = request.app["ledger"]
    ledger.calls += 1
    try:
        body = await request.json()
        reference, amount = str(body["reference"]), int(body["amount_cents"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "JSON with reference and amount_cents required"}, status=400)
    result, created = ledger.capture(reference, amount, request.headers.get("Idempotency-Key"))
    return web.json_response(result, status=201 if created else 200)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def audit(request: web.Request) -> web.Response:
    ledger: Ledger = request.app["ledger"]
    effects = [
        {
            "kind": "charge",
            "key": c["reference"],
            "id": c["id"],
            "value": c["amount_cents"],
            "status": "captured",
        }
        for c in ledger.charges
    ]
    return web.json_response({"effects": effects, "pending": 0, "stats": {"calls": ledger.calls}})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--workdir", type=Path, required=True)
    a = ap.parse_args()
    app = web.Application()
    app["ledger"] = Ledger(a.workdir / "charges.jsonl")
    app.router.add_post("/charges", charge)
    app.router.add_get("/health", health)
    app.router.add_get("/audit", audit)
    web.run_app(app, host=a.host, port=a.port, access_log=None, print=None, shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
