"""The shop's worker: ships pending orders. It serves nothing; it says when it has started."""

import time

from client import command

print("worker started", flush=True)
while True:
    try:
        for key in command("KEYS order:").split():
            state = command(f"GET {key}")
            if state.startswith("pending:"):
                command(f"PUT {key} shipped:{state.split(':', 1)[1]}")
                print(f"shipped {key}", flush=True)
    except OSError as exc:
        print(f"store unreachable: {exc}", flush=True)
    time.sleep(0.2)
