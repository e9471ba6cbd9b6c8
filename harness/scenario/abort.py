"""The ``abort:`` block of a scenario: bounds that stop a rehearsal early (stop conditions).

Why: a rehearsal against a shared or production-like system must be able to say "this far and no
further", as Chaos Toolkit, Gremlin's halt and AWS FIS stop conditions do. When a bound is
crossed the harness clears every fault at once, stops the load, journals the bound and the
measured value, keeps everything measured and exits 4 (ABORTED).

Live bounds (``error_rate``, ``p95_latency``, ``p99_latency``) are judged on windows of the
ledger as it is written, ``window`` long, one every ``step`` (default: the SLO's), and hold when
crossed in every window for ``for``. Checks (``http``, ``command``) are asked every ``every``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.scenario.fields import Seconds as Duration


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)


class _Sustained(_Model):
    for_: Duration = Field(
        0.0,
        alias="for",
        le=3600,
        description="how long the bound must be crossed, in every window, before aborting (e.g. 3s)",
    )


class ErrorRateAbort(_Sustained):
    """Abort when the share of failing requests is above ``above`` for ``for`` (an empty window,
    load running and nothing answering, counts as all failing)."""

    above: float = Field(ge=0, lt=1, description="share of requests failing, e.g. 0.5")


class LatencyAbort(_Sustained):
    """Abort when the percentile latency (all requests, failures included) is above ``above``."""

    above: Duration = Field(gt=0, le=3600, description="a latency, e.g. 2s")


class HttpCheck(_Model):
    """GET ``path`` on ``service`` every ``every``: any answer other than ``status`` (or none
    within ``timeout``) says stop."""

    service: str
    path: str = Field("/health", pattern=r"^/")
    status: int = Field(200, ge=100, le=599, description="the answer that means carry on")
    every: Duration = Field(1.0, gt=0, le=3600)
    timeout: Duration = Field(2.0, gt=0, le=600)


class CommandCheck(_Model):
    """Run the user's own check every ``every`` (argv, from the scenario's directory, told where
    each service answers in ``AFTERSHOCK_URL_<SERVICE>``): exit 0 means carry on; any other exit
    status, or no exit within ``timeout``, says stop. Its last line of output is journaled."""

    run: list[str] = Field(min_length=1, description='argv; "{python}" is the harness\'s Python')
    every: Duration = Field(5.0, gt=0, le=3600)
    timeout: Duration = Field(10.0, gt=0, le=600)


class Abort(_Model):
    """Stop conditions. Give at least one bound; each is optional."""

    error_rate: ErrorRateAbort | None = None
    p95_latency: LatencyAbort | None = None
    p99_latency: LatencyAbort | None = None
    http: HttpCheck | None = None
    command: CommandCheck | None = None
    window: Duration | None = Field(
        None, gt=0, le=3600, description="window of the live bounds (default: slo.window)"
    )
    step: Duration | None = Field(None, gt=0, le=3600, description="evaluation step (default: slo.step)")

    @model_validator(mode="after")
    def _something(self) -> Abort:
        if not any((self.error_rate, self.p95_latency, self.p99_latency, self.http, self.command)):
            raise ValueError("give at least one of error_rate, p95_latency, p99_latency, http, command")
        if self.window is not None and self.step is not None and self.step > self.window:
            raise ValueError(f"step ({self.step:g}s) must not exceed window ({self.window:g}s)")
        return self
