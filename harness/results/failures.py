"""The failed requests of a trial broken down, as Locust's own failures table does, plus when."""

from __future__ import annotations

from pydantic import Field

from harness.results.base import Frozen


class FailureGroup(Frozen):
    """The failed requests of one operation with one status (or error class)."""

    op: str = Field(description="The operation (the ledger's op column).")
    status: str = Field(
        description=(
            'The HTTP status ("503"), or the error class when no answer came ("timeout", '
            '"connection refused", "reset"...).'
        )
    )
    outcome: str = Field(description="fail (definite) or indeterminate (no clear answer).")
    count: int = Field(description="How many requests of this group failed.")
    share: float = Field(description="count over all requests of this operation in the trial (0..1).")
    first_seen: float = Field(description="End of the first failed request of the group (run-relative s).")
    last_seen: float = Field(description="End of the last failed request of the group (run-relative s).")
    during: list[str] = Field(
        default_factory=list,
        description=(
            'Labels of the faults active (injected..cleared) when requests of the group failed; "no fault" '
            "for failures outside every fault window."
        ),
    )


class ErrorText(Frozen):
    """One error text of the ledger and how often it was seen."""

    text: str = Field(description="The error text as the load generator recorded it (truncated to 200).")
    count: int = Field(description="How many failed requests carried it.")


class FailureBreakdown(Frozen):
    """Failed requests by operation and status, and the most common error texts."""

    failed: int = Field(description="Requests that did not succeed (fail plus indeterminate).")
    groups: list[FailureGroup] = Field(
        default_factory=list, description="One entry per (operation, status, outcome), most frequent first."
    )
    top_errors: list[ErrorText] = Field(
        default_factory=list, description="The three most common error texts, most frequent first."
    )
