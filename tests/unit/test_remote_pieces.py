"""A remote worker's new ledger lines go to the master in pieces of whole rows (a piece cut inside
a UTF-8 character would not decode; one cut inside a row would garble the live view)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load import remote


@given(
    rows=st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40
        ),
        max_size=30,
    )
)
def test_pieces_are_whole_rows_and_rebuild_the_data(rows: list[str]) -> None:
    data = "".join(f"{r}\r\n" for r in rows).encode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(remote, "CHUNK", 32)
        pieces = remote._pieces(data)
    assert b"".join(pieces) == data
    for piece in pieces:
        assert piece.endswith(b"\n")
        piece.decode("utf-8")  # whole characters
        assert len(piece) <= 32 or piece.count(b"\n") == 1  # longer only for one long row
