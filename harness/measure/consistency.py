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
* **stuck** = work accepted and not finished after the drain, each unit once: keys whose primary
  effects are none in the final status, plus ``pending`` (work the target reports as a count
  because it has no effect to list yet; the audit contract forbids counting an effect there too);
* **unledgered** = effects whose key the ledger never saw: the ledger missed a request the target
  received (or the target invented a key). A harness error, never silently ignored: with it, the
  other figures cannot be trusted.

Keys are idempotency keys: every attempt of an op (a client retry, a duplicate resend) carries the
same key, so the key is the op's identity on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.load.ledger import LedgerRecord
from harness.measure.audit import Audit, AuditEffect

EXAMPLES = 5
UNLEDGERED_KEYS = 20  # keys listed with the unledgered figure, to go and look for


@dataclass(frozen=True)
class Effect:
    kind: str
    key: str
    value: str | None  # None: the target does not record it; never compared
    status: str | None
    id: str

    @classmethod
    def from_audit(cls, e: AuditEffect) -> Effect:
        return cls(e.kind, e.key, _norm(e.value), e.status, str(e.id))


def effects_of(audits: Mapping[str, Audit]) -> list[Effect]:
    """Every effect of every (validated) audit source."""
    return [Effect.from_audit(e) for a in audits.values() for e in a.effects]


def _norm(value: object) -> str | None:
    """Values compare as text; 12 and "12" and 12.0 are the same amount."""
    if value is None:
        return None
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
    stuck: int = 0  # includes `pending`
    pending: int = 0  # of stuck: work the target reported only as a count
    unledgered: int = 0  # effects whose key the ledger never saw: a harness error
    unledgered_keys: list[str] = field(default_factory=list)
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
    """The ledger against the effects the target holds; see the module docstring for each count."""
    attempts, seen = _write_attempts(records, set(write_ops))
    c = Consistency(pending=pending)
    by_kind_key = _count_effects(c, effects, seen)
    c.writes = len(attempts)
    for key in c.unledgered_keys[:EXAMPLES]:
        c._example("unledgered", key)
    _judge_writes(c, attempts, by_kind_key, primary)
    _judge_effects(c, attempts, by_kind_key, primary, final_status)
    if pending:
        c.stuck += pending
        c._example("stuck", f"{pending} more reported pending by the target (not yet an effect)")
    return c


def _write_attempts(
    records: Iterable[LedgerRecord], ops: set[str]
) -> tuple[dict[str, list[LedgerRecord]], set[str]]:
    """Every attempt of each write, by key; and every key the ledger has seen (any operation)."""
    attempts: dict[str, list[LedgerRecord]] = defaultdict(list)
    seen: set[str] = set()
    for r in records:
        if r.key:
            seen.add(r.key)
            if r.op in ops:
                attempts[r.key].append(r)
    return attempts, seen


def _count_effects(
    c: Consistency, effects: Iterable[Effect], seen: set[str]
) -> dict[tuple[str, str], list[Effect]]:
    """The effects by (kind, key); counts them by kind and those no ledgered request asked for."""
    by_kind_key: dict[tuple[str, str], list[Effect]] = defaultdict(list)
    kinds: dict[str, int] = defaultdict(int)
    unledgered: set[str] = set()
    for e in effects:
        by_kind_key[(e.kind, e.key)].append(e)
        kinds[e.kind] += 1
        if e.key not in seen:
            c.unledgered += 1
            unledgered.add(e.key)
    c.effects = dict(kinds)
    c.unledgered_keys = sorted(unledgered)[:UNLEDGERED_KEYS]
    return by_kind_key


def _judge_writes(
    c: Consistency,
    attempts: dict[str, list[LedgerRecord]],
    by_kind_key: dict[tuple[str, str], list[Effect]],
    primary: str,
) -> None:
    """Each write by what the client was told: acknowledged (lost without its primary effect),
    definitely failed (phantom with one), or indeterminate (present or absent)."""
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


def _judge_effects(
    c: Consistency,
    attempts: dict[str, list[LedgerRecord]],
    by_kind_key: dict[tuple[str, str], list[Effect]],
    primary: str,
    final_status: str | None,
) -> None:
    """Each (kind, key) by what the target holds: duplicated, corrupted (not the value the client
    sent), stuck (a primary effect that never reached ``final_status``)."""
    for (kind, key), found in sorted(by_kind_key.items()):
        if len(found) > 1:
            c.duplicated += 1
            c._example("duplicated", f"{key}: {len(found)} {kind}s ({', '.join(e.id for e in found[:3])})")
        asked = next((t.value for t in attempts.get(key, []) if t.value), "")
        if asked:
            wrong = [e for e in found if e.value is not None and e.value != asked]
            if wrong:
                c.corrupted += 1
                c._example(
                    "corrupted", f"{key}: {kind} {wrong[0].id} has {wrong[0].value}, client sent {asked}"
                )
        # each key once: stuck unless one of its primary effects reached the final status
        if kind == primary and final_status is not None and all(e.status != final_status for e in found):
            c.stuck += 1
            c._example("stuck", f"{key}: {kind} {found[0].id} is {found[0].status!r}")
