"""Read a user's YAML file as plain data, bounded, with the line of every key.

A scenario is untrusted input until it validates, so the file is bounded before anything is
built from it: its size (:data:`MAX_BYTES`), its nesting (:data:`MAX_DEPTH`) and its size once
every alias is expanded (:data:`MAX_NODES`; a 600-byte "billion laughs" expands to 10^9 nodes).
Those are measured on the parser's event stream, which is iterative, before the (recursive)
composer runs. Only plain YAML is accepted: no ``!!python`` tags, no duplicate keys (YAML drops
the first one silently), no control characters inside strings (they end up in file names,
junit.xml and terminals). Every failure is a :class:`~harness.errors.ScenarioError` naming the
file and line; nothing here raises anything else.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import Problem, ScenarioError

#: A scenario or target file is a few kilobytes; anything past this is not one.
MAX_BYTES = 1024 * 1024
#: Nesting depth (mappings and lists), counted with aliases expanded. Scenarios use about 6.
MAX_DEPTH = 64
#: Values in the document with every alias expanded. The largest shipped file has about 200.
MAX_NODES = 50_000

Path_ = tuple[str | int, ...]

if getattr(yaml, "__with_libyaml__", False):  # the C parser: same events and marks, faster
    _Loader: Any = yaml.CSafeLoader
else:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data and the line of every key path in it (``("faults", 0, "link")`` -> 7)."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, where: Path_) -> int | None:
        """The line of ``where``, or of its nearest ancestor that has one."""
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[:-1]
        return self.lines.get(())


def fmt_path(where: Path_) -> str:
    """``("faults", 0, "link")`` -> ``faults[0].link``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def read_yaml(path: Path) -> YamlDocument:
    """Read, bound, parse and map one YAML file. Raises :class:`ScenarioError` on anything wrong."""
    file = str(path)
    text = _decode(_read_bytes(path, file), file)
    _check_bounds(text, file)
    loader = _Loader(text)
    try:
        node = _compose(loader, file)
        lines, problems = _map_lines(node)
        if problems:
            raise ScenarioError([Problem(file, *p) for p in problems])
        data = _construct(loader, node, file)
    finally:
        loader.dispose()
    doc = YamlDocument(file, data, lines)
    bad = list(_unprintable(doc))
    if bad:
        raise ScenarioError(bad)
    return doc


# -- steps ---------------------------------------------------------------------------------
def _read_bytes(path: Path, file: str) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ScenarioError([Problem(file, "(file)", f"{what}", fix="give the path of a .yaml file")])
        if info.st_size > MAX_BYTES:
            raise _too_big(file, info.st_size)
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([Problem(file, "(file)", "no such file", fix="check the path")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(
            [Problem(file, "(file)", f"cannot read: {reason}", fix="check the path and its permissions")]
        ) from None
    if len(raw) > MAX_BYTES:
        raise _too_big(file, len(raw))
    return raw


def _too_big(file: str, size: int) -> ScenarioError:
    return ScenarioError(
        [
            Problem(
                file,
                "(file)",
                f"is {size} bytes, more than a scenario can be ({MAX_BYTES} bytes)",
                fix="give the scenario file itself (a few kilobytes of YAML)",
            )
        ]
    )


def _decode(raw: bytes, file: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            [
                Problem(
                    file,
                    "(encoding)",
                    f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {column}",
                    line=line,
                    fix="save the file as UTF-8",
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


def _reader_problem(file: str, exc: yaml.reader.ReaderError, text: str) -> ScenarioError:
    """A character YAML does not allow in a stream (a NUL, a raw escape)."""
    char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return ScenarioError(
        [
            Problem(
                file,
                "(yaml)",
                f"not valid YAML: the character {char} is not allowed in a YAML file",
                line=text[: exc.position].count("\n") + 1,
                fix="remove it: a scenario is text",
            )
        ]
    )


def _yaml_problem(file: str, exc: yaml.YAMLError, text: str = "") -> ScenarioError:
    if isinstance(exc, yaml.reader.ReaderError):
        return _reader_problem(file, exc, text)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    what = f"{context}, {problem}" if context else str(problem)
    if "nesting depth" in what:
        fix = "write the scenario out plainly: a few levels of mappings and lists"
    elif "constructor for the tag" in what:
        fix = "remove the tag: scenario files are plain YAML (mappings, lists, strings, numbers)"
    elif "single document" in what:
        fix = "keep one document per file: remove the second `---`"
    elif "unhashable" in what:
        fix = "keys must be plain words, such as `name:`"
    else:
        fix = "fix the YAML syntax near that line (indentation, quotes, brackets, `key: value`)"
    return ScenarioError([Problem(file, "(yaml)", f"not valid YAML: {what}", line=line, fix=fix)])


def _check_bounds(text: str, file: str) -> None:
    """Depth and expanded size from the event stream, before anything recursive runs."""
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, expanded depth)
    stack: list[list[Any]] = [[None, 0, 0]]  # per open collection: anchor, nodes, depth below
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([event.anchor, 1, 0])
                if event.anchor is not None:
                    anchors.pop(event.anchor, None)  # redefined: not usable until it closes
                if len(stack) - 1 > MAX_DEPTH:
                    raise _bound_problem(file, event, f"nested more than {MAX_DEPTH} levels deep")
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes, below = stack.pop()
                size = (nodes, below + 1)
                if anchor is not None:
                    anchors[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = (1, 0)
                if event.anchor is not None:
                    anchors[event.anchor] = size
            elif isinstance(event, yaml.AliasEvent):
                if any(frame[0] == event.anchor for frame in stack):
                    raise _bound_problem(
                        file, event, f"refers to itself (alias *{event.anchor} inside &{event.anchor})"
                    )
                size = anchors.get(event.anchor or "", (1, 0))
            else:
                continue
            parent = stack[-1]
            parent[1] += size[0]
            parent[2] = max(parent[2], size[1])
            if parent[1] > MAX_NODES:
                raise _bound_problem(file, event, f"holds more than {MAX_NODES} values once aliases expand")
            if len(stack) - 1 + size[1] > MAX_DEPTH:
                raise _bound_problem(
                    file, event, f"nested more than {MAX_DEPTH} levels deep (through aliases)"
                )
    except yaml.YAMLError as exc:
        raise _yaml_problem(file, exc, text) from None


def _bound_problem(file: str, event: yaml.Event, what: str) -> ScenarioError:
    mark = event.start_mark
    return ScenarioError(
        [
            Problem(
                file,
                "(yaml)",
                f"the document {what}",
                line=mark.line + 1 if mark is not None else None,
                fix="write the scenario out plainly: a few levels of mappings and lists, few aliases",
            )
        ]
    )


def _compose(loader: Any, file: str) -> yaml.Node | None:
    try:
        node: yaml.Node | None = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _yaml_problem(file, exc) from None
    return node


def _map_lines(root: yaml.Node | None) -> tuple[dict[Path_, int], list[tuple[str, str, object, int, str]]]:
    """The line of every key path (aliases followed; their size is bounded) and duplicate keys."""
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[str, str, object, int, str]] = []
    todo: list[tuple[yaml.Node, Path_]] = [] if root is None else [(root, ())]
    while todo:
        node, where = todo.pop()
        lines.setdefault(where, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                    todo.append((value, where))
                    continue
                k = key.value
                line = key.start_mark.line + 1
                if k in seen:
                    duplicates.append(
                        (
                            fmt_path((*where, k)),
                            f"duplicate key (first given on line {seen[k]}); YAML would keep only the last",
                            k,
                            line,
                            "keep one of them",
                        )
                    )
                seen[k] = line
                lines[(*where, k)] = line
                todo.append((value, (*where, k)))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*where, i)) for i, item in enumerate(node.value))
    return lines, duplicates


def _construct(loader: Any, node: yaml.Node | None, file: str) -> Any:
    if node is None:
        return None
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_problem(file, exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp with month 13
        mark = node.start_mark
        raise ScenarioError(
            [
                Problem(
                    file,
                    "(yaml)",
                    f"a value cannot be read: {exc}",
                    line=mark.line + 1,
                    fix="quote the value to make it a string, or correct it",
                )
            ]
        ) from None


# -- characters ----------------------------------------------------------------------------
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def bad_character(text: str) -> str | None:
    """The first character of ``text`` that XML 1.0 or a terminal cannot take as text, if any."""
    for ch in text:
        code = ord(ch)
        if ch in _ALLOWED_CONTROLS:
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            return ch
    return None


def _strings(data: Any, where: Path_) -> Iterator[tuple[Path_, str]]:
    todo: list[tuple[Any, Path_]] = [(data, where)]
    seen: set[int] = set()
    while todo:
        value, at = todo.pop()
        if isinstance(value, str):
            yield at, value
        elif isinstance(value, dict | list):
            if id(value) in seen:  # an alias: its strings were looked at already
                continue
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str):
                    yield at, k
                todo.append((v, (*at, k if isinstance(k, str | int) else str(k))))


def _unprintable(doc: YamlDocument) -> Iterator[Problem]:
    for where, text in _strings(doc.data, ()):
        ch = bad_character(text)
        if ch is not None:
            yield Problem(
                doc.file,
                fmt_path(where),
                f"contains the control character U+{ord(ch):04X}",
                text[:60],
                doc.line(where),
                "remove it: names and text end up in file names, junit.xml and terminals",
            )
