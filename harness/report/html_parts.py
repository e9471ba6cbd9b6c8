"""The building blocks of ``report.html``: escaped text, inline PNGs, tables and cells.

Every section of the page is built from these, so escaping happens in one place and the page
stays self-contained (figures are ``data:`` URIs, never files beside it).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from typing import Any


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then each cell is a full ``<td>``)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(row) if raw else "".join(f"<td>{esc(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def td(text: str, cls: str = "", title: str = "") -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' title="{esc(title)}"' if title else "")
    return f"<td{attrs}>{esc(text)}</td>"
