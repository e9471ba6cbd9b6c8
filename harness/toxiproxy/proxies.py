"""One Toxiproxy proxy per link of the target, named with the run id."""

from __future__ import annotations

import re
from types import TracebackType

from harness.errors import InfrastructureError
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
        name = proxy_name(self.run_id, link)
        try:
            self._addresses[link] = self.server.create_proxy(name, f"{self.listen_host}:0", upstream)
        except ToxiproxyError as exc:
            raise InfrastructureError(f"could not create the proxy for link {link!r}: {exc}") from None
        return self._addresses[link]

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
