"""Typed, frozen models of a scenario file.

Everything a rehearsal needs is checked here, before anything starts: a scenario that
validates can only fail at run time for reasons of the infrastructure or of the system under
test, never because of a typo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from harness.scenario.abort import Abort
from harness.scenario.base import Model
from harness.scenario.explore import EXPLORABLE_KINDS as EXPLORABLE_KINDS
from harness.scenario.explore import Explore as Explore
from harness.scenario.faults import (
    CRASH_SCOPES as CRASH_SCOPES,
)
from harness.scenario.faults import (
    CRASH_SIGNALS as CRASH_SIGNALS,
)
from harness.scenario.faults import (
    FAULT_MODELS as FAULT_MODELS,
)
from harness.scenario.faults import (
    LINK_FAULT_KINDS as LINK_FAULT_KINDS,
)
from harness.scenario.faults import (
    MAX_TOXIC_BYTES as MAX_TOXIC_BYTES,
)
from harness.scenario.faults import (
    RESOURCE_FAULT_KINDS as RESOURCE_FAULT_KINDS,
)
from harness.scenario.faults import (
    BandwidthFault as BandwidthFault,
)
from harness.scenario.faults import (
    CpuStarveFault as CpuStarveFault,
)
from harness.scenario.faults import (
    CrashFault as CrashFault,
)
from harness.scenario.faults import (
    CrashScope as CrashScope,
)
from harness.scenario.faults import (
    CrashSignal as CrashSignal,
)
from harness.scenario.faults import (
    DeployFault as DeployFault,
)
from harness.scenario.faults import (
    DownFault as DownFault,
)
from harness.scenario.faults import (
    DuplicateFault as DuplicateFault,
)
from harness.scenario.faults import (
    Fault as Fault,
)
from harness.scenario.faults import (
    LatencyFault as LatencyFault,
)
from harness.scenario.faults import (
    LimitDataFault as LimitDataFault,
)
from harness.scenario.faults import (
    OomFault as OomFault,
)
from harness.scenario.faults import (
    PartitionFault as PartitionFault,
)
from harness.scenario.faults import (
    PauseFault as PauseFault,
)
from harness.scenario.faults import (
    ResetFault as ResetFault,
)
from harness.scenario.faults import (
    ResponseLossFault as ResponseLossFault,
)
from harness.scenario.faults import (
    SlicerFault as SlicerFault,
)
from harness.scenario.faults import (
    SlowCloseFault as SlowCloseFault,
)
from harness.scenario.faults import (
    Stream as Stream,
)
from harness.scenario.faults import (
    TimeoutFault as TimeoutFault,
)
from harness.scenario.fields import (
    MAX_FAULTS,
    Count,
    CountBound,
    DurationBound,
    Number,
    RateBound,
    SafeName,
    Seconds,
)
from harness.scenario.limits import Limits
from harness.scenario.monitoring import AlertExpectations, Monitoring
from harness.scenario.target import AuditSource, ConsistencyContract, Service, audit_shorthand

if TYPE_CHECKING:
    from harness.scenario.slo import HealthPolicy


__all__ = ["Model"]  # re-exported: the base of every model lives in harness.scenario.base

#: Fields of an inline Compose target (``target: {compose: ..., links: [...], entrypoint: api}``).
INLINE_TARGET_FIELDS = ("compose", "links", "entrypoint", "services", "audit", "consistency", "locustfile")


class TargetRef(Model):
    """Which target to rehearse, with per-service environment and limits overrides; or, with
    ``compose:``, the target itself, inline (paths relative to the scenario file)."""

    name: str = Field(min_length=1, max_length=1000)
    mode: str | None = Field(None, description="a mode the target declares, e.g. fragile")
    env: dict[str, dict[str, str]] = Field(default_factory=dict)
    limits: dict[str, Limits] = Field(
        default_factory=dict,
        description="per service: memory / cpus limits over target.yaml's (docker and compose backends)",
    )
    compose: str | None = Field(
        None, min_length=1, description="inline Compose target: the Compose file, relative to the scenario"
    )
    links: list[str] | None = Field(None, description="inline Compose target: its links, client->server")
    entrypoint: str | None = Field(None, description="inline Compose target: the HTTP service load goes to")
    services: dict[str, Service] | None = Field(
        None, description="inline Compose target: what a service needs beyond Compose (health, port)"
    )
    audit: list[AuditSource] | None = Field(None, description="inline Compose target: audit endpoints")
    consistency: ConsistencyContract | None = None
    locustfile: str | None = Field(
        None,
        description="inline Compose target: the locustfile, relative to the scenario (default locustfile.py)",
    )

    @model_validator(mode="before")
    @classmethod
    def _audit_shorthand(cls, data: Any) -> Any:
        """``audit: /audit`` is the entrypoint's, as in target.yaml."""
        return audit_shorthand(data)

    @model_validator(mode="after")
    def _inline(self) -> TargetRef:
        if self.compose is None:
            given = [f for f in INLINE_TARGET_FIELDS if getattr(self, f) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} describe an inline Compose target, which needs `compose:`; fix: add"
                    " `compose: path/to/compose.yaml`, or put them in the target's target.yaml"
                )
        elif self.entrypoint is None:
            raise ValueError(
                "an inline Compose target needs `entrypoint:` (the HTTP service load is driven at); fix: add"
                " `entrypoint: <service>`"
            )
        return self


class LoadMaster(Model):
    """Locust's master for load workers on other machines (README, "Load from other machines").

    Without it the master listens on loopback only. ``bind`` is an address of this machine the
    workers can reach; ``port`` is fixed when a firewall rule needs it (default: a free one,
    printed in the Locust log); the load starts once ``remote_workers`` have connected.
    """

    bind: str = Field(description="IP address of this machine the master listens on, e.g. 10.0.0.5")
    port: int | None = Field(None, ge=1024, le=65535, description="TCP port (default: a free one)")
    remote_workers: Count = Field(ge=1, le=256, description="workers on other machines to wait for")

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address; fix: name one address of this machine the workers "
                "reach (e.g. 10.0.0.5), or 0.0.0.0 for every interface"
            ) from None
        return value


class Load(Model):
    users: Count = Field(10, ge=1, le=10_000)
    spawn_rate: Number | None = Field(
        None, gt=0, le=10_000, description="users started per second; default all at once"
    )
    rate_per_user: Number = Field(10.0, gt=0, le=1000, description="requests per second each user aims for")
    duration: Seconds = Field(30.0, gt=0, le=6 * 3600)
    request_timeout: Seconds = Field(2.0, gt=0, le=600)
    locustfile: str | None = Field(None, description="path relative to the target directory")
    workers: Count = Field(
        1, ge=1, le=64, description="Locust worker processes (master + workers, one ledger shard each)"
    )
    master: LoadMaster | None = Field(
        None, description="workers on other machines: the address the master listens on, and how many"
    )


class SLO(Model):
    """What "healthy" means. Its rules (hold >= window, step <= window, ...) are those of
    :class:`~harness.measure.health.HealthPolicy`, checked once there: see :meth:`policy`."""

    window: Seconds = Field(1.0, gt=0)
    step: Seconds = Field(0.1, gt=0)
    success_rate: Number = Field(0.99, ge=0, le=1)
    p95_latency: Seconds | None = Field(None, gt=0)
    p99_latency: Seconds | None = Field(None, gt=0)
    hold: Seconds = Field(5.0, gt=0)
    baseline: Seconds | None = Field(
        None, gt=0, description="how long the SLO must hold before the first fault (default: hold)"
    )

    def policy(self) -> HealthPolicy:
        """The health policy the measurement uses; raises ValueError when the rules do not hold."""
        from harness.scenario.slo import HealthPolicy

        return HealthPolicy(
            window=self.window,
            step=self.step,
            success_rate=self.success_rate,
            p95_latency=self.p95_latency,
            p99_latency=self.p99_latency,
            hold=self.hold,
        )

    @model_validator(mode="after")
    def _coherent(self) -> SLO:
        if self.baseline is not None and self.baseline < self.window:
            raise ValueError(
                f"baseline ({self.baseline:g}s) must be at least window ({self.window:g}s); "
                "fix: raise slo.baseline or leave it out (default: hold)"
            )
        try:
            self.policy()
        except ValueError as exc:
            rules = str(exc).removeprefix("invalid health policy: ")
            raise ValueError(f"{rules}; fix: change slo so that step <= window <= hold") from None
        return self


class RecoveryDistribution(Model):
    """Bounds on the recovery time over all trials (``recovery_time: {p95: "<= 10s"}``)."""

    median: DurationBound | None = None
    p95: DurationBound | None = None
    max: DurationBound | None = None


class Expectations(Model):
    """Targets every fault of every trial must meet. Unstated ones are measured, not asserted."""

    recovery_time: DurationBound | RecoveryDistribution | None = Field(
        None, description='every trial ("<= 10s") or the distribution over trials ({p95: "<= 10s"})'
    )
    time_to_impact: DurationBound | None = None
    outage: DurationBound | None = None
    error_rate_during_fault: RateBound | None = None
    recovered: bool | None = Field(None, description="true: every fault must be recovered from")
    lost_writes: CountBound | None = Field(None, description="acknowledged writes absent from the audit")
    duplicate_writes: CountBound | None = Field(None, description="writes applied more than once")
    corrupted_writes: CountBound | None = Field(
        None, description="effects whose value differs from the request"
    )
    phantom_writes: CountBound | None = Field(None, description="effects of definitely failed writes")
    stuck: CountBound | None = Field(None, description="work accepted but unfinished after the drain")
    rollback_duration: DurationBound | None = Field(
        None, description="rollback trigger to recovery with the version confirmed (DESIGN.md)"
    )
    detection_to_rollback: DurationBound | None = Field(None, description="first impact to rollback trigger")
    data_restored: bool | None = Field(
        None,
        description=(
            "after a rollback, no lost, duplicated or corrupted write may remain. Default: true when "
            "the scenario has a rollback (a restored service with damaged data is not a recovery); "
            "false reports the damage without failing on it"
        ),
    )
    backlog_recovery_time: DurationBound | None = Field(
        None, description="clear to the backlog back within its baseline range for `hold`"
    )
    cycle_time_p95: DurationBound | None = Field(None, description="p95 cycle time of work, during and after")
    time_to_detect: DurationBound | None = Field(
        None, description="first impact to the first firing notification of the target's own alerting"
    )
    alerts: AlertExpectations | None = Field(None, description="{symptom, runbook, resolved}: true")


class RedeployAction(Model):
    service: str
    version: str


class FlagAction(Model):
    """POST ``body`` (JSON) to ``path`` on ``service``: flip a feature flag, no redeploy."""

    service: str
    path: str = Field("/admin/flags", pattern=r"^/")
    body: dict[str, Any]


class CommandAction(Model):
    """Run the user's own rollback (a script, a deploy tool) with a timeout."""

    run: list[str] = Field(min_length=1, description="argv; run from the scenario's directory")
    timeout: Seconds = Field(300.0, gt=0)


class RollbackAction(Model):
    redeploy: RedeployAction | None = None
    flag: FlagAction | None = None
    command: CommandAction | None = None

    @model_validator(mode="after")
    def _one(self) -> RollbackAction:
        given = [n for n in ("redeploy", "flag", "command") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of redeploy, flag or command (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(n for n in ("redeploy", "flag", "command") if getattr(self, n) is not None)


class Confirm(Model):
    """How the harness confirms the rolled-back version: GET ``path`` on ``service`` answers 2xx
    with JSON containing ``expect`` (a partial match, nested)."""

    service: str
    path: str = Field("/health", pattern=r"^/")
    expect: dict[str, Any] = Field(default_factory=dict)
    timeout: Seconds = Field(60.0, gt=0)


class Rollback(Model):
    """When and how to roll back, the way an on-call runbook or a deploy pipeline would."""

    trigger: Literal["manual", "automatic"]
    at: Seconds | None = Field(None, description="manual: when, counted from the start of load")
    after_unhealthy: Seconds = Field(
        3.0, gt=0, description="automatic: roll back once the SLO has been violated this long"
    )
    action: RollbackAction
    confirm: Confirm | None = None
    budget: Seconds = Field(180.0, gt=0, description="a recovery longer than this escalates to a human")

    @model_validator(mode="after")
    def _when(self) -> Rollback:
        if self.trigger == "manual" and self.at is None:
            raise ValueError("a manual rollback needs `at:` (when to roll back)")
        return self


class Scenario(Model):
    name: SafeName = Field(description="used in directory names: no '/' or '\\', at most 100 characters")
    description: str = Field("", max_length=10_000)
    target: TargetRef
    backend: Literal["process", "docker", "compose"] = "process"
    seed: Count = Field(1, ge=0, le=2**63 - 1)
    trials: Count = Field(1, ge=1, le=100)
    load: Load = Field(default_factory=lambda: Load())
    slo: SLO = Field(default_factory=lambda: SLO())
    faults: list[Fault] = Field(default_factory=list, max_length=MAX_FAULTS)
    rollback: Rollback | None = None
    explore: Explore | None = Field(None, description="bounds for `aftershock explore` (ignored by `run`)")
    monitoring: Monitoring | None = Field(None, description="the target's own Prometheus and Alertmanager")
    expect: Expectations = Field(default_factory=lambda: Expectations())
    abort: Abort | None = Field(None, description="stop conditions: bounds that end the rehearsal early")
    startup_timeout: Seconds = 60.0
    drain_timeout: Seconds = 10.0
    owner: str | None = Field(
        None, max_length=200, description="who owns the action items of this rehearsal (in postmortem.md)"
    )
    runbook: str | None = Field(
        None,
        max_length=2000,
        description="URL or path of the runbook for this failure (linked from postmortem.md)",
    )

    @model_validator(mode="before")
    @classmethod
    def _target_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("target"), str):
            data = {**data, "target": {"name": data["target"]}}
        target = data.get("target") if isinstance(data, dict) else None
        if isinstance(target, dict) and "compose" in target and "name" not in target:
            # an inline Compose target is named after its scenario
            data = {**data, "target": {**target, "name": str(data.get("name") or "inline")}}
        return data
