"""The value types scenario fields share: durations, bounds, counts, numbers, names.

Each is an annotated type that parses the way a user writes it ("500ms", "<= 10s", 0) and
refuses what a rehearsal cannot mean (a negative or endless duration, a fractional count of
writes, ``true`` as a number), with a message that says the fix. The JSON Schema of each is
what editors show.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, Strict, WithJsonSchema

from harness.scenario.durations import MAX_COUNT, MAX_SECONDS, Bound, parse_bound, parse_duration
from harness.scenario.yamlsource import bad_character

_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
        {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
    ],
    "examples": ["500ms", "10s", "2m"],
}
_BOUND_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(<=|<|>=|>|==)?\s*\S+"}, {"type": "number", "minimum": 0}],
}

Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: f"{v:g}s", return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]


def _duration_bound(value: object) -> Bound:
    return value if isinstance(value, Bound) else parse_bound(value, kind="duration")


def _count_bound(value: object) -> Bound:
    return value if isinstance(value, Bound) else parse_bound(value, kind="count")


def _rate_bound(value: object) -> Bound:
    return value if isinstance(value, Bound) else parse_bound(value, kind="rate")


DurationBound = Annotated[
    Bound,
    BeforeValidator(_duration_bound),
    PlainSerializer(lambda b: b.text, return_type=str),
    WithJsonSchema({**_BOUND_SCHEMA, "examples": ["<= 10s", "< 2m", ">= 1s"]}),
]
CountBound = Annotated[
    Bound,
    BeforeValidator(_count_bound),
    PlainSerializer(lambda b: b.text, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(<=|<|>=|>|==)?\s*\d+\s*$"},
                {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
            ],
            "examples": ["<= 0", 0],
        }
    ),
]
RateBound = Annotated[
    Bound,
    BeforeValidator(_rate_bound),
    PlainSerializer(lambda b: b.text, return_type=str),
    WithJsonSchema({**_BOUND_SCHEMA, "examples": ["<= 0.05", 0]}),
]
#: Whole numbers exactly as written: YAML's ``true`` or ``2.5`` or ``"10"`` is not a count.
Count = Annotated[int, Strict()]
#: A real number as written (an integer is fine; ``true`` or ``"0.5"`` is not).
Number = Annotated[float, Strict()]


def _safe_name(name: str) -> str:
    """A scenario name ends up in directory names, junit.xml and terminals."""
    ch = bad_character(name)
    if ch is not None:
        raise ValueError(f"contains the control character U+{ord(ch):04X}; fix: remove it")
    if name.strip() in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(
            "a name is used in directory names; fix: drop '/' and '\\' (and do not use '.' or '..')"
        )
    return name


SafeName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_safe_name)]
#: More faults than this in one rehearsal cannot be attributed; it is a generated file gone wrong.
MAX_FAULTS = 100
