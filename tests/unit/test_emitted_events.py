"""Every ``emit("tag", field=...)`` in the package names a known run event and only its fields.

Backends emit by tag (they do not import the event classes), so a tag or field the events module
does not know is a TypeError at run time, on whatever path first emits it: a port-race retry, a
Compose start. This reads the source, so every call is checked, including the rare paths.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from harness.events import EVENTS
from tests.conftest import REPO


def emitted() -> list[tuple[str, int, str, set[str]]]:
    calls = []
    for path in sorted((REPO / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "emit" or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            fields = {k.arg for k in node.keywords if k.arg is not None}
            calls.append((str(Path(path).relative_to(REPO)), node.lineno, str(node.args[0].value), fields))
    return calls


def test_the_source_emits_events() -> None:
    assert len(emitted()) >= 15  # the scan itself works


def test_every_emitted_tag_and_field_is_known() -> None:
    wrong = []
    for file, line, tag, fields in emitted():
        cls = EVENTS.get(tag)
        if cls is None:
            wrong.append(f"{file}:{line}: unknown event {tag!r}")
            continue
        known = {f.name for f in dataclasses.fields(cls)}
        if fields - known:
            wrong.append(f"{file}:{line}: {tag} has no field(s) {sorted(fields - known)}")
    assert not wrong, "\n".join(wrong)
