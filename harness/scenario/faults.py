"""Typed, frozen models of a scenario's faults: one class per kind, each with what it acts on
(a link and its toxic, a service and an action) and its own bounds.

Its own module for the scenario's largest part; :mod:`harness.scenario.models` puts the faults
in a scenario and re-exports them.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.scenario.base import Model
from harness.scenario.fields import Count, Number, Seconds

CRASH_SIGNALS = ("KILL", "TERM", "INT")
CRASH_SCOPES = ("group", "main", "children")
CrashSignal = Literal["KILL", "TERM", "INT"]
CrashScope = Literal["group", "main", "children"]


def _one_of(value: Any, choices: tuple[str, ...], what: str, strip: str = "") -> Any:
    """``value`` if it is one of ``choices``; else the error that says which one was meant."""
    if not isinstance(value, str) or value in choices:
        return value  # a wrong type is the Literal's to report
    # compared without case (and without e.g. a SIG prefix): "sigterm" means TERM
    plain = value.strip().upper().removeprefix(strip)
    by_key = {c.upper(): c for c in choices}
    close = [plain] if plain in by_key else difflib.get_close_matches(plain, list(by_key), n=1)
    meant = f"did you mean {by_key[close[0]]!r}? " if close else ""
    raise ValueError(f"unknown {what}; fix: {meant}use one of: {', '.join(choices)}")


class _FaultBase(Model):
    at: Seconds = Field(description="when to inject, counted from the start of load")
    duration: Seconds = Field(gt=0, description="how long the fault stays before it is cleared")
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.kind}@{self.where}"  # type: ignore[attr-defined]

    @property
    def where(self) -> str:
        return str(getattr(self, "link", ""))


class _LinkFault(_FaultBase):
    link: str = Field(description="a link of the target, 'client->server'")
    toxicity: Number = Field(1.0, gt=0, le=1, description="share of connections affected")


class LatencyFault(_LinkFault):
    """Adds delay to the link (Toxiproxy `latency` toxic)."""

    kind: Literal["latency"]
    latency: Seconds = Field(gt=0)
    jitter: Seconds = 0.0
    direction: Literal["downstream", "upstream", "both"] = "downstream"


class DownFault(_LinkFault):
    """Disables the proxy: new connections are refused and open ones are closed."""

    kind: Literal["down"]


class TimeoutFault(_LinkFault):
    """Black hole: data stops flowing; the connection is closed after `timeout` (0 = never)."""

    kind: Literal["timeout"]
    timeout: Seconds = 0.0
    direction: Literal["downstream", "upstream", "both"] = "both"


class ResetFault(_LinkFault):
    """Connections are reset (TCP RST) after `timeout` (0 = on the first data)."""

    kind: Literal["reset"]
    timeout: Seconds = 0.0
    direction: Literal["downstream", "upstream", "both"] = "both"


class CrashFault(_FaultBase):
    """Kill a service as an operator (or the kernel) would: ``signal`` to ``scope``. With
    ``restart: true`` the harness starts it again after ``duration`` (``cleared_at`` is the instant
    it was relaunched); with ``restart: false`` the target's own supervisor must bring it back
    (``cleared_at`` = ``injected_at``)."""

    kind: Literal["crash"]
    service: str
    duration: Seconds = Field(0.0, ge=0, description="how long the service stays dead before the restart")
    restart: bool = True
    when_log: str | None = Field(
        None, description="after `at`, wait for a line of the service's log matching this regex, then kill"
    )
    within: Seconds = Field(10.0, gt=0, description="how long to wait for `when_log` before killing anyway")
    # -- crash as an operator would (signal, scope, delay after the log line) --------------------
    signal: CrashSignal = Field(
        "KILL", description="KILL (no cleanup), TERM (a graceful stop) or INT (Ctrl-C)"
    )
    scope: CrashScope = Field(
        "group",
        description=(
            "group: every process of the service; main: its main process only; children: only the"
            " processes it started (a worker pool's workers, what an out-of-memory kill takes)"
        ),
    )
    delay: Seconds = Field(
        0.0, ge=0, description="with when_log: kill this long after the matching line (mid-job)"
    )

    @field_validator("signal", mode="before")
    @classmethod
    def _signal_known(cls, value: Any) -> Any:
        return _one_of(value, CRASH_SIGNALS, "signal", strip="SIG")

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_known(cls, value: Any) -> Any:
        return _one_of(value, CRASH_SCOPES, "scope")

    @model_validator(mode="after")
    def _delay_needs_a_log_line(self) -> CrashFault:
        if self.delay and not self.when_log:
            raise ValueError(
                f"delay ({self.delay:g}s) counts from a `when_log` match, and there is none; fix: add"
                f" `when_log:`, or move the delay into `at` (at: {self.at + self.delay:g}s)"
            )
        return self

    @property
    def where(self) -> str:
        return self.service


class PauseFault(_FaultBase):
    """Freeze a service (SIGSTOP / docker pause) for ``duration``: a GC pause or a VM stall."""

    kind: Literal["pause"]
    service: str

    @property
    def where(self) -> str:
        return self.service


class PartitionFault(_FaultBase):
    """Black-hole every link between two groups of services, both ways."""

    kind: Literal["partition"]
    groups: list[list[str]] = Field(min_length=2, description="e.g. [[api], [db]]")

    @property
    def where(self) -> str:
        return "|".join(",".join(g) for g in self.groups)


class ResponseLossFault(_LinkFault):
    """The request reaches the server, its response never reaches the client: the connection is
    closed on the first byte back (Toxiproxy ``limit_data`` downstream). The classic source of
    duplicates: the client retries a request that did succeed."""

    kind: Literal["response_loss"]


# -- the remaining Toxiproxy toxics as fault kinds (bandwidth, slicer, slow_close, limit_data) --
Stream = Literal["downstream", "upstream", "both"]
MAX_TOXIC_BYTES = 2**31 - 1  # Toxiproxy's attributes are 32-bit on some builds


class BandwidthFault(_LinkFault):
    """Caps the link's throughput at ``rate`` KB/s (Toxiproxy ``bandwidth``): a saturated or slow
    network, where small requests pass and large answers crawl."""

    kind: Literal["bandwidth"]
    rate: Count = Field(ge=1, le=MAX_TOXIC_BYTES, description="KB per second (1 KB = 1000 bytes)")
    direction: Stream = "downstream"


class SlicerFault(_LinkFault):
    """Cuts the data into small packets of ``average_size`` ± ``size_variation`` bytes, ``delay``
    apart (Toxiproxy ``slicer``): a lossy path, and parsers that assume one read is one message."""

    kind: Literal["slicer"]
    average_size: Count = Field(ge=1, le=MAX_TOXIC_BYTES, description="bytes per slice, on average")
    size_variation: Count = Field(0, ge=0, le=MAX_TOXIC_BYTES, description="bytes, less than average_size")
    delay: Seconds = Field(0.0, ge=0, le=10, description="between slices (resolution 1 microsecond)")
    direction: Stream = "downstream"

    @model_validator(mode="after")
    def _variation_below_average(self) -> SlicerFault:
        if self.size_variation >= self.average_size:
            raise ValueError(
                f"size_variation ({self.size_variation}) must be less than average_size"
                f" ({self.average_size}); fix: set size_variation to at most {self.average_size - 1}"
            )
        return self


class SlowCloseFault(_LinkFault):
    """Delays closing the connection by ``delay`` (Toxiproxy ``slow_close``): a peer that lingers
    after the exchange, pinning connections and pool slots."""

    kind: Literal["slow_close"]
    delay: Seconds = Field(gt=0, le=3600, description="how long the close is held back")
    direction: Stream = "downstream"


class LimitDataFault(_LinkFault):
    """Closes the connection after ``bytes`` bytes (Toxiproxy ``limit_data``): truncated answers,
    partial reads. ``response_loss`` is this with 0 bytes downstream."""

    kind: Literal["limit_data"]
    bytes: Count = Field(ge=0, le=MAX_TOXIC_BYTES, description="bytes let through before the close")
    direction: Stream = "downstream"


class DuplicateFault(_FaultBase):
    """The load resends ``fraction`` of its writes under the same idempotency key (double clicks,
    at-least-once delivery), ``delay`` after the first send."""

    kind: Literal["duplicate"]
    fraction: Number = Field(gt=0, le=1)
    delay: Seconds = 0.0

    @property
    def where(self) -> str:
        return "load"


class DeployFault(_FaultBase):
    """Replace a running service with another of its versions (stop, start the new one, wait until
    healthy). It stays until a rollback replaces it: ``cleared_at`` is when the rollback action
    finished, so the deploy's recovery time is what the rollback bought."""

    kind: Literal["deploy"]
    service: str
    version: str
    duration: Seconds | None = Field(None, description="unused: a deploy is cleared by the rollback")  # type: ignore[assignment]

    @property
    def where(self) -> str:
        return f"{self.service}={self.version}"


# -- resource faults: a container's memory and CPU (docker and compose backends only) ------------
class OomFault(_FaultBase):
    """A real kernel OOM kill: at ``at`` the container's memory limit is cut to what it uses plus
    a little, and memory pressure in its cgroup makes the kernel kill its largest process (see
    :mod:`harness.faults.resources`). With ``restart: true`` the limit is restored and a dead
    container started again after ``duration`` (``cleared_at``); ``restart: false`` leaves the
    limit lowered only until the kill and recovery to the target (``cleared_at`` = ``injected_at``)."""

    kind: Literal["oom"]
    service: str
    duration: Seconds = Field(
        0.0, ge=0, description="how long the killed service stays down before the restart"
    )
    restart: bool = True
    within: Seconds = Field(
        10.0, gt=0, le=300, description="how long the pressure may take to bring the kill"
    )

    @property
    def where(self) -> str:
        return self.service


class CpuStarveFault(_FaultBase):
    """The container's CPU quota is cut to ``cpus`` for ``duration``, then restored (``docker
    update --cpus``): a noisy neighbour, a throttled pod."""

    kind: Literal["cpu_starve"]
    service: str
    cpus: Number = Field(0.05, ge=0.01, le=1024, description="the CPU share left during the fault, e.g. 0.05")

    @property
    def where(self) -> str:
        return self.service


#: Fault kinds that act on a container's cgroup limits: refused on the process backend.
RESOURCE_FAULT_KINDS = ("oom", "cpu_starve")


#: The faults that act on a link's traffic through Toxiproxy (a toxic, or the link cut).
LinkFaultModel = (
    LatencyFault
    | DownFault
    | TimeoutFault
    | ResetFault
    | ResponseLossFault
    | BandwidthFault
    | SlicerFault
    | SlowCloseFault
    | LimitDataFault
)

Fault = Annotated[
    LinkFaultModel
    | CrashFault
    | PauseFault
    | PartitionFault
    | DuplicateFault
    | DeployFault
    | OomFault
    | CpuStarveFault,
    Field(discriminator="kind"),
]


FAULT_MODELS: dict[str, type[_FaultBase]] = {
    "latency": LatencyFault,
    "down": DownFault,
    "timeout": TimeoutFault,
    "reset": ResetFault,
    "response_loss": ResponseLossFault,
    "bandwidth": BandwidthFault,
    "slicer": SlicerFault,
    "slow_close": SlowCloseFault,
    "limit_data": LimitDataFault,
    "crash": CrashFault,
    "pause": PauseFault,
    "partition": PartitionFault,
    "duplicate": DuplicateFault,
    "deploy": DeployFault,
    "oom": OomFault,
    "cpu_starve": CpuStarveFault,
}
LINK_FAULT_KINDS = (
    "latency",
    "down",
    "timeout",
    "reset",
    "response_loss",
    "bandwidth",
    "slicer",
    "slow_close",
    "limit_data",
)
