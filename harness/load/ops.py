"""``python -m harness.load.ops LOCUSTFILE HOST``: one call of each task of each user of a locustfile.

For ``aftershock target check``: every op the load would send is tried once, in the order the
tasks are written (a read that needs an earlier create finds it), and lands in the ledger in
``$AFTERSHOCK_LEDGER_DIR`` like any request. Run in its own process: it imports Locust, which
monkey-patches with gevent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def main(locustfile: str, host: str) -> int:
    from locust.env import Environment

    from harness.load import user as ledger_user

    spec = importlib.util.spec_from_file_location("aftershock_locustfile", locustfile)
    if spec is None or spec.loader is None:
        print(f"cannot import {locustfile}", file=sys.stderr)
        return 2
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(locustfile).resolve().parent))
    spec.loader.exec_module(module)
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, ledger_user.LedgerUser)
        and v is not ledger_user.LedgerUser
        and not v.__dict__.get("abstract", False)
    ]
    if not classes:
        print(f"{locustfile} defines no LedgerUser subclass", file=sys.stderr)
        return 2
    for cls in classes:
        cls.host = host  # the runner would set it from the environment
        user = cls(Environment(user_classes=[cls], host=host))
        user.on_start()
        tasks = list(dict.fromkeys(cls.tasks))  # one of each, in order (weights repeat them)
        for task in tasks:
            if callable(task) and not isinstance(task, type):
                task(user)
                print(f"task {cls.__name__}.{getattr(task, '__name__', task)}", flush=True)
        user.on_stop()  # type: ignore[no-untyped-call]
    ledger_user.ledger().close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
