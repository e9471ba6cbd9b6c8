"""The shop's HTTP front: POST /orders stores an order (pending) under its idempotency key."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from client import command


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/audit":  # the final state, in aftershock's audit contract
            effects = []
            for key in command("KEYS order:").split():
                status, _, item = command(f"GET {key}").partition(":")
                order = key.split(":", 1)[1]
                effects.append({"kind": "order", "key": order, "value": item, "status": status, "id": order})
            # a pending order is listed above (status "pending"): counting it in "pending" as well
            # would make it two stuck units (the contract: an effect *or* the count, never both)
            self._send(200, {"effects": effects, "pending": 0})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        key = self.headers.get("Idempotency-Key", "")
        if self.path != "/orders" or not key:
            self._send(400, {"error": "POST /orders with an Idempotency-Key"})
            return
        try:
            if not command(f"GET order:{key}"):
                command(f"PUT order:{key} pending:{body.get('item', '?')}")
        except OSError as exc:
            self._send(503, {"error": f"store unavailable: {exc}"})
            return
        self._send(201, {"id": key})

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    print("web listening on 8080", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
