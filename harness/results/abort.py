"""The abort that ended a run early: a scenario's ``abort:`` bound was crossed (exit code 4)."""

from __future__ import annotations

from pydantic import Field

from harness.results.base import Frozen

#: The note on a fault whose recovery the abort cut short (not observed, so not a miss of the target).
ABORTED_NOTE = "the rehearsal was aborted before a recovery could be observed"
#: The same for a rehearsal the user stopped (Ctrl-C, SIGTERM: exit 130): not observed, not missed.
STOPPED_NOTE = "the rehearsal was stopped before a recovery could be observed"
#: The note on a fault still active when the observation ended (cleared after the load stopped).
UNCLEARED_NOTE = "the observation ended before the fault was cleared"
#: The word each note puts in a recovery column instead of "not recovered".
CUT_SHORT = {ABORTED_NOTE: "aborted", STOPPED_NOTE: "stopped"}
#: A verdict's measured text when the stop came before its figure could be observed.
STOPPED_MEASURED = "not observed (stopped)"


def recovery_word(note: str | None) -> str:
    """``aborted`` / ``stopped`` for a fault whose recovery was cut short, else ``not recovered``."""
    return CUT_SHORT.get(note or "", "not recovered")


class AbortResult(Frozen):
    """What was crossed, by how much, and when; every fault was cleared at ``at``."""

    trial: int = Field(description="The trial it ended; no later trial ran.")
    at: float = Field(
        description="When the guard decided (run-relative seconds); every fault was cleared then."
    )
    bound: str = Field(description="Which bound: error_rate, p95_latency, p99_latency, http or command.")
    reason: str = Field(description="The bound and the measured value, in words.")
    measured: float | str = Field(
        description="The measured value: a share (error_rate), seconds (latency) or the check's answer."
    )
    above: float | None = Field(None, description="The bound's threshold (live bounds).")
    crossed_at: float = Field(
        description=(
            "Live bounds: the end of the judged window at which the bound had been crossed for its "
            "`for`; checks: when the check answered stop."
        )
    )
    since: float | None = Field(
        None, description="Live bounds: the end of the first window of the unbroken run above the bound."
    )
    requests: int | None = Field(None, description="Live bounds: requests completed in the deciding window.")
    window: float | None = Field(None, description="Live bounds: the window, seconds.")
    step: float | None = Field(None, description="Live bounds: the evaluation step, seconds.")
