"""The audit contract: what a target's audit endpoint must return, and its validation.

A target tells aftershock what it kept through one or more audit endpoints (``target.yaml``:
``audit``), read after the load stopped and the target drained. Each answers one JSON object::

    {"effects": [{"kind": "order", "key": "<Idempotency-Key>", "id": "o-17",
                  "value": 1250, "status": "confirmed"}, ...],
     "pending": 0}

The contract is written for users in ``docs/audit.md``; its JSON Schema (``docs/audit-schema.json``)
is generated from :class:`Audit` (``python -m harness.measure.audit``). Every audit is validated
against it *before* any data verdict: an audit that was not understood must never read as "every
acknowledged write lost" (DESIGN.md, "Audit schema"), so a mismatch raises
:class:`AuditSchemaError`, an infrastructure error (exit 3) naming the endpoint, the first
offending path and the expected shape.

Queued work is reported once (DESIGN.md, "stuck"): as an effect (with a status that is not yet
the final one) *or*, when the target has nothing to list yet, as part of ``pending`` - never both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InfrastructureError

if TYPE_CHECKING:
    pass

SCHEMA_ID = "https://aftershock.invalid/schema/audit-schema.json"
DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "audit-schema.json"

#: The shape in one line, for error messages (the full contract is docs/audit.md).
EXPECTED_SHAPE = (
    '{"effects": [{"kind": str, "key": str, "id": str|int, "value": str|number|null (optional), '
    '"status": str|null (optional)}, ...], "pending": int >= 0 (optional, default 0)}'
)


class AuditEffect(BaseModel):
    """One effect the target kept, tied to the request that caused it by its idempotency key."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    kind: str = Field(
        min_length=1,
        description="what the effect is (e.g. order, charge); the contract's `primary` names one",
    )
    key: str = Field(description="the Idempotency-Key header of the request that caused this effect")
    id: str | int = Field(description="the effect's own identity (a row id), quoted in examples")
    value: str | int | float | None = Field(
        None,
        description="what was stored, compared as text with what the client sent (12 == 12.0 == '12'); "
        "null: not recorded, not compared",
    )
    status: str | None = Field(
        None, description="where the work stands; a primary effect not in `final_status` is stuck"
    )


class Audit(BaseModel):
    """One audit endpoint's answer. Extra top-level fields (statistics, say) are allowed and ignored."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    effects: list[AuditEffect] = Field(description="every effect the target kept, duplicates included")
    pending: int = Field(
        0,
        ge=0,
        description="accepted work that is NOT listed in `effects` yet (e.g. a message still in a "
        "broker); work listed as an effect must not be counted here too",
    )


class AuditSchemaError(InfrastructureError):
    """An audit did not match the contract: no data verdict can be computed from it (exit 3)."""

    def __init__(self, endpoint: str, path: str, problem: str, got: object) -> None:
        self.endpoint, self.path, self.problem, self.got = endpoint, path, problem, got
        shown = json.dumps(got, default=str)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(
            f"the audit from {endpoint} does not match the audit contract (docs/audit.md):\n"
            f"  at {path}: {problem} (got {shown})\n"
            f"  expected: {EXPECTED_SHAPE}\n"
            "  no data verdict was computed from this audit"
        )


#: Fields whose type is a union: pydantic names the union member tried last, which misleads.
UNION_FIELDS = {
    "id": "a string or an integer",
    "value": "a string, a number or null",
    "status": "a string or null",
}
FIELDS = {"effects", "pending", "kind", "key", *UNION_FIELDS}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the whole document)"


def validate_audit(doc: object, endpoint: str) -> Audit:
    """The audit as a model, or :class:`AuditSchemaError` naming the first offending path."""
    try:
        return Audit.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc: tuple[int | str, ...] = ()
        for part in first["loc"]:
            if isinstance(part, str) and part not in FIELDS:
                break  # a union member's tag, not a path in the document
            loc += (part,)
        problem = first["msg"]
        if loc and loc[-1] in UNION_FIELDS and first["type"] != "missing":
            problem = f"should be {UNION_FIELDS[str(loc[-1])]}"
        got: Any = first.get("input")
        if first["type"] == "missing":
            got = _at(doc, loc[:-1])
        raise AuditSchemaError(endpoint, _path(loc), problem, got) from None


def _at(doc: object, loc: tuple[int | str, ...]) -> object:
    for part in loc:
        if isinstance(doc, Mapping) and part in doc:
            doc = doc[part]
            continue
        if isinstance(doc, list) and isinstance(part, int) and part < len(doc):
            doc = doc[part]
            continue
        return None
    return doc


def outstanding(audits: Mapping[str, Audit], primary: str | None, final_status: str | None) -> int:
    """Work accepted and not finished yet (what the drain waits for): each key once.

    Primary effects whose key has no effect in ``final_status``, plus what the targets report
    as ``pending`` (work not listed as effects). This is also the ``stuck`` figure after the drain.
    """
    unfinished: set[str] = set()
    finished: set[str] = set()
    if primary is not None and final_status is not None:
        for audit in audits.values():
            for e in audit.effects:
                if e.kind == primary:
                    (finished if e.status == final_status else unfinished).add(e.key)
    return len(unfinished - finished) + sum(a.pending for a in audits.values())


def norm_value(value: object) -> str | None:
    """Values compare as text; 12 and "12" and 12.0 are the same amount."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def audit_schema() -> dict[str, Any]:
    schema = Audit.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "aftershock audit"
    schema["description"] = (
        "What a target's audit endpoint returns after the drain: every effect it kept, keyed by "
        "the Idempotency-Key of the request that caused it, and the work still pending. See docs/audit.md."
    )
    return schema


def schema_text() -> str:
    return json.dumps(audit_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m harness.measure.audit > docs/audit-schema.json
    print(schema_text(), end="")
