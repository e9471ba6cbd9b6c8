"""Faults on a link, through Toxiproxy: latency, down, timeout (black hole), reset.

Each is a context manager: ``__enter__`` injects (and undoes a partial injection if a call fails
half-way), ``__exit__`` always clears. If Toxiproxy itself does not answer the clear, the server
is restarted clean - a fault must never outlive its rehearsal.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from harness.scenario.models import DownFault, LatencyFault, ResetFault, ResponseLossFault, TimeoutFault
from harness.toxiproxy.client import ToxiproxyError
from harness.toxiproxy.proxies import LinkProxies

LinkFaultSpec = LatencyFault | DownFault | TimeoutFault | ResetFault | ResponseLossFault


def _streams(direction: str) -> list[str]:
    return ["upstream", "downstream"] if direction == "both" else [direction]


def toxics_for(spec: LinkFaultSpec) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, stream, attributes) of the Toxiproxy toxics that make up a link fault."""
    if isinstance(spec, LatencyFault):
        attrs = {"latency": round(spec.latency * 1000), "jitter": round(spec.jitter * 1000)}
        return [("latency", s, attrs) for s in _streams(spec.direction)]
    if isinstance(spec, TimeoutFault):
        return [("timeout", s, {"timeout": round(spec.timeout * 1000)}) for s in _streams(spec.direction)]
    if isinstance(spec, ResponseLossFault):
        # limit_data with 0 bytes downstream: the request goes through, the connection is closed on
        # the first byte of the answer, so the client never learns the request succeeded.
        return [("limit_data", "downstream", {"bytes": 0})]
    if isinstance(spec, ResetFault):
        return [("reset_peer", s, {"timeout": round(spec.timeout * 1000)}) for s in _streams(spec.direction)]
    return []


class LinkFault(AbstractContextManager["LinkFault"]):
    clears_itself = False

    def __init__(self, spec: LinkFaultSpec, proxies: LinkProxies, fault_id: str) -> None:
        self.spec = spec
        self.proxies = proxies
        self.fault_id = fault_id
        self.proxy = proxies.name(spec.link)
        self._toxics: list[str] = []
        self._disabled = False

    def __enter__(self) -> LinkFault:
        try:
            self.inject()
        except BaseException:
            self.clear()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clear()

    @property
    def client(self) -> Any:
        return self.proxies.server.client

    def inject(self) -> None:
        if isinstance(self.spec, DownFault):
            self._disabled = True
            self.client.update_proxy(self.proxy, enabled=False)
            return
        for i, (kind, stream, attrs) in enumerate(toxics_for(self.spec)):
            name = f"{self.fault_id}-{i}-{stream}"
            self.client.add_toxic(self.proxy, name, kind, stream, self.spec.toxicity, attrs)
            self._toxics.append(name)

    def clear(self) -> None:
        try:
            for name in reversed(self._toxics):
                try:
                    self.client.remove_toxic(self.proxy, name)
                except ToxiproxyError as exc:
                    if exc.status != 404:
                        raise
            if self._disabled:
                self.client.update_proxy(self.proxy, enabled=True)
        except ToxiproxyError:
            # Toxiproxy did not answer: replace it with a clean server holding the same proxies.
            self.proxies.server.restart()
        self._toxics.clear()
        self._disabled = False
