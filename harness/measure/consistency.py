"""Data consistency: the ledger (what clients were told) against the audit (what the system kept).

Definitions, from DESIGN.md (binding):

* an op is *acknowledged* when any attempt under its idempotency key got a success answer;
  *definitely failed* when every attempt failed definitely (4xx, refused before sending);
  *indeterminate* otherwise (timeouts, resets after sending, 5xx): it may or may not have applied;
* **lost** = acknowledged ops whose primary effect is absent from the audit;
* **duplicated** = ops with more than one effect of a kind (two orders for one key, a double charge);
* **corrupted** = effects present with a value different from what was acknowledged;
* **phantom** = effects of definitely-failed ops that are present;
* indeterminate ops are counted as present or absent, never as lost;
* **stuck** = primary effects not in the final status after the drain (work accepted, not finished),
  plus work the target still reports pending.

Keys are idempotency keys: every attempt of an op (a client retry, a duplicate resend) carries the
same key, so the key is the op's identity on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.load.ledger import LedgerRecord

EXAMPLES = 5


@dataclass(frozen=True)
class Effect:
    kind: str
    key: str
    value: str
    status: str
    id: str

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Effect:
        return cls(
            str(doc.get("kind", "")),
            str(doc.get("key", "")),
            _norm(doc.get("value")),
            str(doc.get("status", "")),
            str(doc.get("id", "")),
        )


def _norm(value: object) -> str:
    """Values compare as text; 12 and "12" and 12.0 are the same amount."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Consistency:
    writes: int = 0
    acknowledged: int = 0
    definitely_failed: int = 0
    indeterminate: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    phantom: int = 0
    indeterminate_present: int = 0
    indeterminate_absent: int = 0
    stuck: int = 0
    pending: int = 0
    effects: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _example(self, name: str, text: str) -> None:
        bucket = self.examples.setdefault(name, [])
        if len(bucket) < EXAMPLES:
            bucket.append(text)


def reconcile(
    records: Iterable[LedgerRecord],
    effects: Iterable[Effect],
    *,
    write_ops: Iterable[str],
    primary: str,
    final_status: str | None,
    pending: int = 0,
) -> Consistency:
    ops = set(write_ops)
    attempts: dict[str, list[LedgerRecord]] = defaultdict(list)
    for r in records:
        if r.op in ops and r.key:
            attempts[r.key].append(r)
    by_kind_key: dict[tuple[str, str], list[Effect]] = defaultdict(list)
    kinds: dict[str, int] = defaultdict(int)
    for e in effects:
        by_kind_key[(e.kind, e.key)].append(e)
        kinds[e.kind] += 1

    c = Consistency(writes=len(attempts), pending=pending, effects=dict(kinds))
    for key, tries in sorted(attempts.items()):
        outcomes = {t.outcome for t in tries}
        primary_effects = by_kind_key.get((primary, key), [])
        if "ok" in outcomes:
            c.acknowledged += 1
            if not primary_effects:
                c.lost += 1
                c._example("lost", key)
        elif outcomes == {"fail"}:
            c.definitely_failed += 1
            if primary_effects:
                c.phantom += 1
                c._example("phantom", key)
        else:
            c.indeterminate += 1
            if primary_effects:
                c.indeterminate_present += 1
            else:
                c.indeterminate_absent += 1
    for (kind, key), found in sorted(by_kind_key.items()):
        if len(found) > 1:
            c.duplicated += 1
            c._example("duplicated", f"{key}: {len(found)} {kind}s ({', '.join(e.id for e in found[:3])})")
        asked = next((t.value for t in attempts.get(key, []) if t.value), "")
        if asked:
            wrong = [e for e in found if e.value != asked]
            if wrong:
                c.corrupted += 1
                c._example(
                    "corrupted", f"{key}: {kind} {wrong[0].id} has {wrong[0].value}, client sent {asked}"
                )
        if kind == primary and final_status is not None:
            unfinished = [e for e in found if e.status != final_status]
            if unfinished and len(unfinished) == len(found):
                c.stuck += 1
                c._example("stuck", f"{key}: {kind} {unfinished[0].id} is {unfinished[0].status!r}")
    return c
