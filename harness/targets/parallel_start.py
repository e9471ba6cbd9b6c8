"""Start a target's services in parallel, each as soon as the services it needs are healthy.

Why: services started one after another pay every health check in series (the orders target's
four services took 2.3 s of each trial's dead time). A service still starts only after the servers
of its links and its ``depends_on`` are up (:meth:`harness.scenario.target.Target.needs`), so a
client never meets a dependency that is not there yet. On the first failure nothing more is
started; the services already starting are waited for (the backend's teardown stops them) and the
first error is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait


def start_in_parallel(needs: dict[str, set[str]], start: Callable[[str], None]) -> list[str]:
    """Call ``start(service)`` for every service once all it needs has started; returns the order
    in which they became healthy. ``needs`` must be acyclic (checked by ``Target.start_order``)."""
    done: list[str] = []
    running: dict[Future[None], str] = {}
    started: set[str] = set()
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, len(needs)), thread_name_prefix="start") as pool:
        while True:
            if first_error is None:
                for name in sorted(needs):
                    if name not in started and needs[name] <= set(done):
                        started.add(name)
                        running[pool.submit(start, name)] = name
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                exc = future.exception()
                if exc is None:
                    done.append(name)
                elif first_error is None:
                    first_error = exc
    if first_error is not None:
        raise first_error
    if len(done) < len(needs):
        raise ValueError(
            "services depend on each other in a cycle: " + ", ".join(sorted(set(needs) - set(done)))
        )
    return done
