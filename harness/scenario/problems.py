"""Turn pydantic's validation errors into :class:`~harness.errors.Problem` s a user can act on.

Each problem names the file, the line (from :class:`~harness.scenario.yamlsource.YamlDocument`),
the field as the user wrote it, the value and a fix. Every error type pydantic can raise gets a
fix line; an unknown one falls back to the field's expected type.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.errors import Problem, ScenarioError
from harness.scenario.yamlsource import Path_, YamlDocument, fmt_path

M = TypeVar("M", bound=BaseModel)

_LIMITS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_TYPE_FIXES = {
    "int": "write a whole number, such as 10",
    "float": "write a number, such as 0.5",
    "bool": "write true or false",
    "string": "write text (quote it if it looks like a number or a date)",
    "str": "write text (quote it if it looks like a number or a date)",
    "dict": "write a mapping of `key: value` lines",
    "model": "write a mapping of `key: value` lines",
    "list": "write a list (`- item` lines or [a, b])",
    "tuple": "write a list of two values, such as [2s, 10s]",
    "literal": "use one of the values listed",
    "finite_number": "write a finite number (not .inf or .nan)",
}


def validate(model: type[M], doc: YamlDocument) -> M:
    """``model`` from the document's data, or a :class:`ScenarioError` listing every problem."""
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            [
                Problem(
                    doc.file,
                    "(top level)",
                    "expected a mapping of fields",
                    _short(doc.data),
                    line=1,
                    fix="start the file with `name: ...`",
                )
            ]
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(problems_from(exc, doc, model)) from None
    except RecursionError:  # pragma: no cover - the reader bounds depth; a last guard
        raise ScenarioError(
            [Problem(doc.file, "(top level)", "too deeply nested", fix="write it out plainly")]
        ) from None


def problems_from(exc: ValidationError, doc: YamlDocument, model: type[BaseModel]) -> list[Problem]:
    out = []
    for err in exc.errors():
        where = data_path(doc.data, err["loc"])
        msg, value, fix = _explain(err, model)
        out.append(
            Problem(doc.file, fmt_path(where), msg, value=_short(value), line=doc.line(where), fix=fix)
        )
    return out


def _explain(err: ErrorDetails, model: type[BaseModel]) -> tuple[str, Any, str]:
    """(message, value to quote, fix) for one pydantic error."""
    loc, kind, value = err["loc"], err["type"], err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        known = known_fields(model, loc[:-1])
        return f"unknown field {name!r}", None, _did_you_mean(name, known, "known fields here")
    if kind == "missing":
        return "required field is missing", None, f"add `{loc[-1]}:`"
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        return f"unknown fault kind {tag!r}", None, _did_you_mean(tag, tags, "use one of")
    if kind == "union_tag_not_found":
        return "a fault needs a `kind`", None, "add `kind: latency` (or down, timeout, reset, crash, ...)"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return (
            msg,
            value,
            "use a value " + " and ".join(f"{op} {ctx[k]}" for k, op in _LIMITS.items() if k in ctx),
        )
    if kind == "string_too_long":
        return msg, value, f"shorten it to at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return msg, value, "give a value (it cannot be empty)"
    if kind in ("too_long", "too_short"):
        return msg, value, _length_fix(ctx)
    if kind == "literal_error":
        return msg, value, f"use one of: {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return msg, value, f"match the pattern {ctx.get('pattern', '')}"
    if "; fix: " in msg:  # a validator that knows the fix says it after this marker
        text, fix = msg.split("; fix: ", 1)
        return text, value, fix
    if "duration" in msg:
        return msg, value, "write durations like 500ms, 10s or 2m"
    if kind == "value_error":
        return msg, value, "change the value as the message says"
    base = kind.split("_")[0] if kind != "finite_number" else kind
    return msg, value, _TYPE_FIXES.get(base, _TYPE_FIXES.get(kind, "change the value to the type expected"))


def _length_fix(ctx: dict[str, Any]) -> str:
    if "max_length" in ctx:
        return f"give at most {ctx['max_length']} item(s)"
    return f"give at least {ctx.get('min_length', 1)} item(s)"


def _did_you_mean(name: str, choices: list[str], label: str) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    listed = f"{label}: {', '.join(choices)}" if choices else "remove it"
    return (f"did you mean {close[0]!r}? " if close else "") + listed


def _short(value: Any) -> Any:
    if isinstance(value, dict | list | tuple | set):
        return None
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    if isinstance(value, bytes) and len(value) > 80:
        return value[:77] + b"..."
    return value


def data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """Map a pydantic location onto the data: drop union tags, keep a missing/unknown last key."""
    out: list[str | int] = []
    node = data
    tag_skipped = False
    for part in loc:
        if isinstance(node, dict) and node.get("kind") == part and not tag_skipped:
            tag_skipped = True  # the tag pydantic adds for the chosen member of a tagged union
            continue
        tag_skipped = False
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str):
            out.append(part)  # a missing field: point at its parent's line, name it in the path
            break
        else:
            break
    return tuple(out)


def known_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names valid at ``loc``, following fault ``kind`` tags and mapping keys."""
    from harness.scenario.models import FAULT_MODELS, Scenario

    kinds: dict[str, type[BaseModel]] = dict(FAULT_MODELS)
    current: Any = model
    skip_key = False
    for part in loc:
        if isinstance(part, int):
            continue
        if skip_key:  # a key of a mapping such as services: {api: ...}
            skip_key = False
            continue
        if current == "faults" and part in kinds:
            current = kinds[part]
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            ann = current.model_fields[part].annotation
            if part == "faults" and current is Scenario:
                current = "faults"
            else:
                current = _model_in(ann)
                skip_key = typing.get_origin(ann) is dict
            continue
        return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]  # as written in YAML
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
