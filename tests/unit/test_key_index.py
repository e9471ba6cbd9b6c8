"""The ledger's key index finds keys exactly: a shared hash never makes two keys one.

A lost write must never hide behind a hash collision, so the index is tested with hashers that
collide on purpose (every key one hash; a hash of the length alone) against a dictionary lookup.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.key_index import KeyIndex, hash64


def _all_one(keys: pa.Array) -> np.ndarray:
    return np.zeros(len(keys), dtype=np.uint64)


def _by_length(keys: pa.Array) -> np.ndarray:
    return np.array([len((k.as_py() or "").encode()) for k in keys], dtype=np.uint64)


def _expected(ledger: list[str], probe: list[str]) -> tuple[list[int], list[int]]:
    first: dict[str, int] = {}
    for i, k in enumerate(ledger):
        first.setdefault(k, i)
    codes = [-1 if k == "" else first[k] for k in ledger]
    return codes, [first.get(k, -1) if k != "" else -1 for k in probe]


keys = st.text(alphabet="ab\u00e9\u4e2dxyz0-", max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(keys, max_size=40), st.lists(keys, max_size=40))
def test_found_exactly_whatever_the_hash(ledger: list[str], probe: list[str]) -> None:
    codes, rows = _expected(ledger, probe)
    for hasher in (hash64, _all_one, _by_length):
        index = KeyIndex(pa.array(ledger, type=pa.string()), hasher=hasher)
        assert index.codes().tolist() == codes
        assert index.rows_of(pa.array(probe, type=pa.string())).tolist() == rows


def test_the_hash_reads_slices_large_strings_and_nulls_as_their_text() -> None:
    texts = ["", "a", "abcdefgh", "abcdefghi", "abcdefgh" * 5 + "z", "\u00e9\u00e9", None]
    whole = pa.array(["pad", *texts, "pad"], type=pa.string())
    direct = hash64(pa.array(texts, type=pa.string()))
    assert hash64(whole.slice(1, len(texts))).tolist() == direct.tolist()
    assert hash64(pa.array(texts, type=pa.large_string())).tolist() == direct.tolist()
    assert direct[-1] == direct[0]  # null reads as the empty key
    assert len(set(direct[:-1].tolist())) == len(texts) - 1


def test_keys_that_share_a_prefix_or_differ_only_past_eight_bytes_differ() -> None:
    base = "order-2026-11-29-"
    texts = [base + str(i) for i in range(20_000)] + [base[:i] for i in range(len(base))]
    assert len(set(hash64(pa.array(texts)).tolist())) == len(texts)


def test_an_empty_key_is_never_found() -> None:
    index = KeyIndex(pa.array(["", "a", ""]))
    assert index.codes().tolist() == [-1, 1, -1]
    assert index.rows_of(pa.array(["", "a", "b"])).tolist() == [-1, 1, -1]
