"""One Toxiproxy proxy per link of the target, named with the run id."""

from __future__ import annotations

import re
from types import TracebackType

from harness.errors import InfrastructureError
from harness.net import PORT_ATTEMPTS, free_port, port_in_use
from harness.toxiproxy.client import ToxiproxyError
from harness.toxiproxy.server import ToxiproxyServer


def proxy_name(run_id: str, link: str) -> str:
    return f"as-{run_id}-" + re.sub(r"[^a-zA-Z0-9]+", "-", link).strip("-")


class LinkProxies:
    """The proxies of a run: ``address(link)`` is what the link's client is handed."""

    def __init__(self, server: ToxiproxyServer, run_id: str, listen_host: str = "127.0.0.1") -> None:
        self.server = server
        self.run_id = run_id
        self.listen_host = listen_host
        self._addresses: dict[str, str] = {}

    def __enter__(self) -> LinkProxies:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove_all()

    def create(self, link: str, upstream: str) -> str:
        """The link's proxy, listening on a port below the ephemeral range (:mod:`harness.net`);
        a port taken between its choice and Toxiproxy's bind is replaced by a fresh one."""
        name = proxy_name(self.run_id, link)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            taken = frozenset(int(a.rsplit(":", 1)[1]) for a in self._addresses.values())
            listen = f"{self.listen_host}:{free_port(self.listen_host, taken)}"
            try:
                self._addresses[link] = self.server.create_proxy(name, listen, upstream)
                return self._addresses[link]
            except ToxiproxyError as exc:
                if not port_in_use(str(exc)) or attempt == PORT_ATTEMPTS:
                    raise InfrastructureError(
                        f"could not create the proxy for link {link!r} on {listen}: {exc}"
                    ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def name(self, link: str) -> str:
        if link not in self._addresses:
            raise InfrastructureError(f"link {link!r} has no proxy in this run")
        return proxy_name(self.run_id, link)

    def address(self, link: str) -> str:
        return self._addresses[link]

    @property
    def links(self) -> list[str]:
        return list(self._addresses)

    def remove_all(self) -> None:
        if self.server.exited() is not None:  # the proxies died with their server: nothing to remove
            self._addresses.clear()
            return
        errors: list[Exception] = []
        for link in reversed(list(self._addresses)):
            try:
                self.server.client.delete_proxy(proxy_name(self.run_id, link))
            except ToxiproxyError as exc:
                if exc.status != 404:
                    errors.append(exc)
            except Exception as exc:
                errors.append(exc)
        self._addresses.clear()
        if errors:
            raise ExceptionGroup("removing proxies failed", errors)
