"""Data consistency in words: the categories of DESIGN.md's Consistency, each with its meaning."""

from __future__ import annotations

from typing import Any

from harness.results import ConsistencyResult

#: Consistency categories (DESIGN.md, "Consistency") in reading order, each with its meaning.
CONSISTENCY_WORDS = {
    "writes": "write operations the load made (one per idempotency key)",
    "acknowledged": "the client got a success answer",
    "definitely_failed": "the server said the operation did not apply",
    "indeterminate": "no clear answer (timeout, reset): may or may not have applied",
    "indeterminate_present": "of those, applied after all",
    "indeterminate_absent": "of those, not applied",
    "lost": "acknowledged, but missing from the final state",
    "duplicated": "applied more than once",
    "corrupted": "present with a different value than the client sent",
    "phantom": "reported as failed, yet present",
    "stuck": "accepted but not finished after the drain wait",
    "pending": "work the target still reported as pending after the drain wait",
    "unledgered": "in the final state, but the load never sent it: a harness error",
    "effects": "what the final state holds, by kind",
}
#: Categories that are data problems when non-zero (the rest are context).
CONSISTENCY_PROBLEMS = frozenset({"lost", "duplicated", "corrupted", "phantom", "stuck", "unledgered"})


def _count_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value)


def consistency_rows(consistency: ConsistencyResult | None) -> list[tuple[str, str, list[str], str]]:
    """``(category, count, examples, meaning)`` rows of a trial's consistency figures.

    Known categories come in DESIGN.md's order; a category the model gained later (e.g.
    ``unledgered``) is shown after them, so a new figure is never hidden by an old report.
    """
    if consistency is None:
        return []
    figures = consistency.model_dump()
    examples_of: dict[str, list[str]] = figures.pop("examples")
    examples_of.setdefault("unledgered", figures.pop("unledgered_keys", []))
    keys = [k for k in CONSISTENCY_WORDS if k in figures]
    keys += [k for k in figures if k not in CONSISTENCY_WORDS]
    rows: list[tuple[str, str, list[str], str]] = []
    for key in keys:
        value = figures[key]
        examples = [str(x) for x in examples_of.get(key, [])]
        if isinstance(value, dict):
            count = ", ".join(f"{k} {_count_text(v)}" for k, v in value.items()) or "none"
        else:
            count = _count_text(value)
        rows.append((key, count, examples[:5], CONSISTENCY_WORDS.get(key, "")))
    return rows
