"""A tiny line-protocol key-value store (stands in for Redis): PUT k v / GET k / KEYS prefix."""

import socketserver
import threading

DATA: dict[str, str] = {}
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            parts = raw.decode().strip().split(" ", 2)
            with LOCK:
                if parts[0] == "PUT" and len(parts) == 3:
                    DATA[parts[1]] = parts[2]
                    reply = "OK"
                elif parts[0] == "GET" and len(parts) == 2:
                    reply = DATA.get(parts[1], "")
                elif parts[0] == "KEYS" and len(parts) == 2:
                    reply = " ".join(k for k in DATA if k.startswith(parts[1]))
                else:
                    reply = "ERR"
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    print("store listening on 6000", flush=True)
    Server(("0.0.0.0", 6000), Handler).serve_forever()
