"""Faults on a link, through Toxiproxy: latency, down, timeout (black hole), reset, response
loss, and the toxics of degraded networks: bandwidth, slicer, slow_close, limit_data.

Each is a context manager: ``__enter__`` injects (and undoes a partial injection if a call fails
half-way), ``__exit__`` always clears. If Toxiproxy itself does not answer the clear, the server
is restarted clean - a fault must never outlive its rehearsal.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from harness.scenario.faults import LinkFaultModel
from harness.scenario.models import (
    BandwidthFault,
    DownFault,
    LatencyFault,
    LimitDataFault,
    ResetFault,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
)
from harness.toxiproxy.client import ToxiproxyError
from harness.toxiproxy.proxies import LinkProxies

LinkFaultSpec = LinkFaultModel
Direction = str  # "downstream", "upstream" or "both"


@dataclass(frozen=True)
class Toxic:
    """One Toxiproxy toxic: its type, the stream it acts on, toxicity and attributes."""

    type: str
    stream: str
    toxicity: float = 1.0
    attributes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class LinkEffect:
    """What a link fault does (never when: the timeline owns that): toxics, or the link disabled."""

    link: str
    toxics: tuple[Toxic, ...] = ()
    disable: bool = False


def _streams(direction: Direction) -> list[str]:
    return ["upstream", "downstream"] if direction == "both" else [direction]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def latency_toxics(
    latency: float, jitter: float = 0.0, direction: Direction = "downstream", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    attrs = (("latency", _ms(latency)), ("jitter", _ms(jitter)))
    return tuple(Toxic("latency", s, toxicity, attrs) for s in _streams(direction))


def timeout_toxics(
    timeout: float = 0.0, direction: Direction = "both", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    """A black hole: data stops; the connection is closed after ``timeout`` (0: never)."""
    return tuple(Toxic("timeout", s, toxicity, (("timeout", _ms(timeout)),)) for s in _streams(direction))


def reset_toxics(
    timeout: float = 0.0, direction: Direction = "both", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    return tuple(Toxic("reset_peer", s, toxicity, (("timeout", _ms(timeout)),)) for s in _streams(direction))


def response_loss_toxics(toxicity: float = 1.0) -> tuple[Toxic, ...]:
    """limit_data with 0 bytes downstream: the request goes through, the connection is closed on
    the first byte of the answer, so the client never learns the request succeeded."""
    return (Toxic("limit_data", "downstream", toxicity, (("bytes", 0),)),)


def bandwidth_toxics(
    rate_kb: int, direction: Direction = "downstream", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    """At most ``rate_kb`` KB/s through the link (Toxiproxy counts 1 KB as 1000 bytes)."""
    return tuple(Toxic("bandwidth", s, toxicity, (("rate", rate_kb),)) for s in _streams(direction))


def slicer_toxics(
    average_size: int,
    size_variation: int = 0,
    delay: float = 0.0,
    direction: Direction = "downstream",
    toxicity: float = 1.0,
) -> tuple[Toxic, ...]:
    """Slices of ``average_size`` ± ``size_variation`` bytes, ``delay`` seconds apart (Toxiproxy
    takes the delay in microseconds)."""
    attrs = (
        ("average_size", average_size),
        ("size_variation", size_variation),
        ("delay", round(delay * 1_000_000)),
    )
    return tuple(Toxic("slicer", s, toxicity, attrs) for s in _streams(direction))


def slow_close_toxics(
    delay: float, direction: Direction = "downstream", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    return tuple(Toxic("slow_close", s, toxicity, (("delay", _ms(delay)),)) for s in _streams(direction))


def limit_data_toxics(
    limit: int, direction: Direction = "downstream", toxicity: float = 1.0
) -> tuple[Toxic, ...]:
    """The connection is closed once ``limit`` bytes have passed (per stream it is set on)."""
    return tuple(Toxic("limit_data", s, toxicity, (("bytes", limit),)) for s in _streams(direction))


def link_effect(spec: LinkFaultSpec) -> LinkEffect:
    """The effect of a scenario's link fault (its ``at`` and ``duration`` are the timeline's)."""
    if isinstance(spec, DownFault):
        return LinkEffect(spec.link, disable=True)
    if isinstance(spec, LatencyFault):
        return LinkEffect(spec.link, latency_toxics(spec.latency, spec.jitter, spec.direction, spec.toxicity))
    if isinstance(spec, TimeoutFault):
        return LinkEffect(spec.link, timeout_toxics(spec.timeout, spec.direction, spec.toxicity))
    if isinstance(spec, ResetFault):
        return LinkEffect(spec.link, reset_toxics(spec.timeout, spec.direction, spec.toxicity))
    if isinstance(spec, BandwidthFault):
        return LinkEffect(spec.link, bandwidth_toxics(spec.rate, spec.direction, spec.toxicity))
    if isinstance(spec, SlicerFault):
        toxics = slicer_toxics(
            spec.average_size, spec.size_variation, spec.delay, spec.direction, spec.toxicity
        )
        return LinkEffect(spec.link, toxics)
    if isinstance(spec, SlowCloseFault):
        return LinkEffect(spec.link, slow_close_toxics(spec.delay, spec.direction, spec.toxicity))
    if isinstance(spec, LimitDataFault):
        return LinkEffect(spec.link, limit_data_toxics(spec.bytes, spec.direction, spec.toxicity))
    return LinkEffect(spec.link, response_loss_toxics(spec.toxicity))


class LinkFault(AbstractContextManager["LinkFault"]):
    clears_itself = False

    def __init__(self, effect: LinkEffect, proxies: LinkProxies, fault_id: str) -> None:
        self.effect = effect
        self.proxies = proxies
        self.fault_id = fault_id
        self.proxy = proxies.name(effect.link)
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
        if self.effect.disable:
            self._disabled = True
            self.client.update_proxy(self.proxy, enabled=False)
        for i, toxic in enumerate(self.effect.toxics):
            name = f"{self.fault_id}-{i}-{toxic.stream}"
            attrs = dict(toxic.attributes)
            self.client.add_toxic(self.proxy, name, toxic.type, toxic.stream, toxic.toxicity, attrs)
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
