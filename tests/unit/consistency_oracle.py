"""The reconcile as it was written first: a loop over records and effects, one object per row.

Kept as the test oracle of the vectorised reconcile (:func:`harness.measure.consistency.reconcile_columns`):
it states DESIGN.md's definitions in the plainest code, and the property tests demand the very same
figures, examples and example order from the array version on random ledgers and audits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from harness.load.ledger import LedgerRecord
from harness.measure.consistency import EXAMPLES, UNLEDGERED_KEYS, Consistency, Effect


class _Examples:
    def __init__(self, c: Consistency) -> None:
        self.c = c

    def __call__(self, name: str, text: str) -> None:
        bucket = self.c.examples.setdefault(name, [])
        if len(bucket) < EXAMPLES:
            bucket.append(text)


def reconcile_simple(
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
        _Examples(c)("unledgered", key)
    _judge_writes(c, attempts, by_kind_key, primary)
    _judge_effects(c, attempts, by_kind_key, primary, final_status)
    if pending:
        c.stuck += pending
        _Examples(c)("stuck", f"{pending} more reported pending by the target (not yet an effect)")
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
                _Examples(c)("lost", key)
        elif outcomes == {"fail"}:
            c.definitely_failed += 1
            if primary_effects:
                c.phantom += 1
                _Examples(c)("phantom", key)
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
            _Examples(c)("duplicated", f"{key}: {len(found)} {kind}s ({', '.join(e.id for e in found[:3])})")
        asked = next((t.value for t in attempts.get(key, []) if t.value), "")
        if asked:
            wrong = [e for e in found if e.value is not None and e.value != asked]
            if wrong:
                c.corrupted += 1
                _Examples(c)(
                    "corrupted", f"{key}: {kind} {wrong[0].id} has {wrong[0].value}, client sent {asked}"
                )
        # each key once: stuck unless one of its primary effects reached the final status
        if kind == primary and final_status is not None and all(e.status != final_status for e in found):
            c.stuck += 1
            _Examples(c)("stuck", f"{key}: {kind} {found[0].id} is {found[0].status!r}")
