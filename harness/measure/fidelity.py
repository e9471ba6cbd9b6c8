"""Fault fidelity: did the fault do, to the requests, what the scenario asked for?

A fault that had no observable effect is the quietest way for a rehearsal to lie: a latency
toxic on a link the requests never cross, a crash of a service nobody calls, and every
expectation is met. So, per fault, the requests *sent* while it was active (they are the ones
that crossed the faulted link while it was faulted) are compared with those sent during an
equally long stretch just before it (the reference), and the fault is flagged **no effect
observed** when neither their error share nor their latency moved.

What is compared, and against what was asked:

* **latency shift** = median latency during minus median latency before. A ``latency`` fault
  asks for ``latency`` per crossing in each direction it is set on (twice for ``both``); a
  request that crosses the link several times (several queries per request) shows a multiple
  of it, one that is served from a cache shows less. The ratio is reported, not judged.
* **error share** = share of requests not ok. ``down``, ``timeout``, ``reset`` and
  ``response_loss`` ask for ``toxicity`` (the share of connections affected) of the link's
  traffic to fail; a service that retries or falls back may hide some of it, by design.
* The load talks only to the target's entrypoint: for a link that is not client-facing (every
  link is between two services) the effect is observed on the entrypoint's requests, which is
  what users see. A fault on a link the entrypoint's requests do not depend on (a worker's
  queue) is then flagged, rightly: the users saw nothing.

**Thresholds** (an effect must stand out of the reference's own noise): the error share must
rise by at least 1 percentage point and by three standard errors of the reference share; the
median latency during the fault must exceed the reference's 90th percentile (and its median by
at least 5 ms): most requests slower than nearly all before. Latencies on a busy machine wander
by tens of percent between two stretches; a threshold relative to the median alone would call
that wander an effect and hide a mis-wired fault. A fault
during which no request was sent cannot be judged (``effect_observed`` None), and says so.
The ``duplicate`` fault acts on the load itself (resends), not on the target's answers: its
effect is counted by the consistency figures (duplicated writes), so it is not judged here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from harness.measure.samples import RequestSamples
from harness.scenario.models import (
    BandwidthFault,
    Fault,
    LatencyFault,
    LimitDataFault,
    SlicerFault,
    SlowCloseFault,
)

ERROR_KINDS = ("down", "timeout", "reset", "response_loss")
MIN_ERROR_RISE = 0.01
MIN_LATENCY_RISE = 0.005
REFERENCE_QUANTILE = 90.0


@dataclass(frozen=True)
class Fidelity:
    """The observed effect of one fault on the requests sent while it was active.

    Latencies are medians in seconds; shares are 0..1; None where there was no request to
    measure. ``asked`` says in words what the fault asked for; ``note`` is the verdict in words
    ("no effect observed ...", or what was observed against what was asked).
    """

    asked: str
    asked_latency: float | None
    asked_error_share: float | None
    requests_before: int
    requests_during: int
    latency_before: float | None
    latency_during: float | None
    latency_shift: float | None
    error_share_before: float | None
    error_share_during: float | None
    effect_observed: bool | None
    note: str

    @property
    def no_effect(self) -> bool:
        """True when the fault was judged and showed nothing: the flag every report carries."""
        return self.effect_observed is False

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "no_effect": self.no_effect}


def _asked(fault: Fault) -> tuple[str, float | None, float | None]:
    """What the fault asks for, in words, and as a latency and an error share where it has them."""
    if isinstance(fault, LatencyFault):
        crossings = 2 if fault.direction == "both" else 1
        asked = fault.latency * crossings
        jitter = f" ± {fault.jitter * 1000:.0f} ms" if fault.jitter else ""
        text = (
            f"+{fault.latency * 1000:.0f} ms{jitter} {fault.direction} on {fault.link}"
            f" (toxicity {fault.toxicity:g})"
        )
        return text, asked, None
    if isinstance(fault, BandwidthFault | SlicerFault | SlowCloseFault | LimitDataFault):
        words = _shaping_words(fault)
        return f"{words} {fault.direction} on {fault.link} (toxicity {fault.toxicity:g})", None, None
    if fault.kind in ERROR_KINDS:
        toxicity = float(getattr(fault, "toxicity", 1.0))
        return f"{fault.kind} on {fault.where} (toxicity {toxicity:g})", None, toxicity
    return f"{fault.kind} of {fault.where}", None, None


def _shaping_words(fault: BandwidthFault | SlicerFault | SlowCloseFault | LimitDataFault) -> str:
    """The traffic-shaping toxics in words (the effect they ask for has no single latency or error
    share to compare with: it depends on the size of what crosses the link)."""
    if isinstance(fault, BandwidthFault):
        return f"bandwidth capped at {fault.rate} KB/s"
    if isinstance(fault, SlicerFault):
        variation = f" ± {fault.size_variation}" if fault.size_variation else ""
        return f"data sliced into {fault.average_size}{variation}-byte pieces {fault.delay * 1000:g} ms apart"
    if isinstance(fault, SlowCloseFault):
        return f"connection close held back {fault.delay * 1000:g} ms"
    return f"connection closed after {fault.bytes} bytes"


def _sent_between(samples: RequestSamples, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    inside = (samples.start >= start) & (samples.start < end)
    return samples.latency[inside], samples.ok[inside]


def measure_fidelity(
    samples: RequestSamples,
    fault: Fault,
    *,
    injected_at: float,
    cleared_at: float,
    load_started: float,
    entrypoint: str = "the entrypoint",
) -> Fidelity:
    """Compare the requests sent in ``[injected_at, cleared_at)`` with those sent just before.

    The reference stretch is as long as the fault (at least 1 s), cut at ``load_started``.
    For a fault cleared at once (a crash its target restarts itself), the stretch judged is 1 s.
    """
    asked, asked_latency, asked_errors = _asked(fault)
    length = max(cleared_at - injected_at, 1.0)
    during = _Stretch.of(*_sent_between(samples, injected_at, injected_at + length))
    before = _Stretch.of(*_sent_between(samples, max(load_started, injected_at - length), injected_at))
    n_d, n_b = during.n, before.n
    med_d, med_b = during.median, before.median
    err_d, err_b = during.error_share, before.error_share
    shift = None if med_d is None or med_b is None else med_d - med_b
    if fault.kind == "duplicate":
        effect: bool | None = None
        note = "not judged here: a duplicate fault's effect is the duplicated writes (consistency)"
    elif n_d == 0:
        effect = None
        note = f"not judged: no request was sent to {entrypoint} while the fault was active"
    elif n_b == 0 or med_b is None or before.high is None or err_b is None or med_d is None or err_d is None:
        effect = None
        note = "not judged: no request was sent before the fault to compare with"
    else:
        effect, note = _judge(fault, entrypoint, asked, asked_latency, asked_errors, before, during)
    return Fidelity(
        asked=asked,
        asked_latency=asked_latency,
        asked_error_share=asked_errors,
        requests_before=n_b,
        requests_during=n_d,
        latency_before=med_b,
        latency_during=med_d,
        latency_shift=shift,
        error_share_before=err_b,
        error_share_during=err_d,
        effect_observed=effect,
        note=note,
    )


@dataclass(frozen=True)
class _Stretch:
    """The requests sent in one stretch of time: how many, their median and high latency, and
    the share that failed (None when there were none)."""

    n: int
    median: float | None
    high: float | None
    error_share: float | None

    @classmethod
    def of(cls, latencies: np.ndarray, ok: np.ndarray) -> _Stretch:
        n = int(latencies.size)
        return cls(
            n=n,
            median=float(np.median(latencies)) if n else None,
            high=float(np.percentile(latencies, REFERENCE_QUANTILE)) if n else None,
            error_share=float(np.count_nonzero(~ok)) / n if n else None,
        )


def _judge(
    fault: Fault,
    entrypoint: str,
    asked: str,
    asked_latency: float | None,
    asked_errors: float | None,
    before: _Stretch,
    during: _Stretch,
) -> tuple[bool, str]:
    """Did the requests fail more (beyond the noise of the reference share) or get slower (beyond
    the reference's high latency)? And the note that says what was seen against what was asked."""
    assert before.median is not None and before.high is not None and before.error_share is not None
    assert during.median is not None and during.error_share is not None
    med_b, med_d, err_b, err_d = before.median, during.median, before.error_share, during.error_share
    noise = 3.0 * math.sqrt(max(err_b * (1.0 - err_b), 1e-12) / before.n)
    errors_rose = err_d - err_b >= max(MIN_ERROR_RISE, noise)
    slower = med_d >= max(before.high, med_b + MIN_LATENCY_RISE)
    effect = errors_rose or slower
    observed = (
        f"median latency {med_b * 1000:.0f} -> {med_d * 1000:.0f} ms, "
        f"failing {err_b:.1%} -> {err_d:.1%} of {entrypoint}'s requests"
    )
    if not effect:
        note = f"no effect observed: {observed} (asked: {asked})"
        note += (
            f"; if {fault.where} is off the users' request path (a worker or its links), its "
            "effect shows in the data figures, not in the requests"
        )
    elif asked_latency is not None:
        shift_ms = (med_d - med_b) * 1000
        note = f"observed {shift_ms:+.0f} ms against {asked_latency * 1000:+.0f} ms asked; {observed}"
    elif asked_errors is not None:
        note = (
            f"observed {err_d:.1%} failing against {asked_errors:.0%} of the link's traffic asked; {observed}"
        )
    else:
        note = f"observed: {observed}"
    return effect, note
