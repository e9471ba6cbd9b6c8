"""Read a scenario and its target, check everything, report every problem at once.

Errors name the file, the line, the field, the value and the fix. Nothing is started here.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import Problem, ScenarioError
from harness.scenario.models import DeployFault, PartitionFault, Scenario
from harness.scenario.monitoring import monitoring_problems
from harness.scenario.target import LINK_RE, PLACEHOLDER, SIMPLE_PLACEHOLDERS, Target

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario that validated, with the target it names."""

    scenario: Scenario
    path: Path
    target: Target
    target_dir: Path


def _read_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML keeping the line of every key, so errors can point at it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(str(path), "(file)", "no such file", fix="check the path")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(str(path), "(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    "(yaml)",
                    f"not valid YAML: {problem}",
                    line=line,
                    fix="fix the indentation or quoting near that line",
                )
            ]
        ) from None
    lines: dict[Path_, int] = {}

    def walk(n: yaml.Node | None, where: Path_) -> None:
        if n is None:
            return
        lines.setdefault(where, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                k = key.value
                lines[(*where, k)] = key.start_mark.line + 1
                walk(value, (*where, k))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*where, i))

    walk(node, ())
    return data, lines


def _line_for(lines: dict[Path_, int], where: Path_) -> int | None:
    while where:
        if where in lines:
            return lines[where]
        where = where[:-1]
    return lines.get(())


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
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


def _fmt(where: Path_) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _problems_from(
    exc: ValidationError, data: Any, lines: dict[Path_, int], file: str, model: type[BaseModel]
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        loc = err["loc"]
        where = _data_path(data, loc)
        kind = err["type"]
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        fix = ""
        if kind == "extra_forbidden":
            name = str(loc[-1])
            parent_loc = loc[:-1]
            known = _known_fields(model, parent_loc)
            close = difflib.get_close_matches(name, known, n=1)
            msg = f"unknown field {name!r}"
            fix = (f"did you mean {close[0]!r}? " if close else "") + (
                f"known fields here: {', '.join(known)}" if known else "remove it"
            )
            value = None
        elif kind == "missing":
            msg = "required field is missing"
            fix = f"add `{loc[-1]}:`"
            value = None
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            msg = f"unknown fault kind {ctx.get('tag')!r}"
            fix = f"use one of: {ctx.get('expected_tags', '')}"
            value = None
        elif kind == "union_tag_not_found":
            msg = "a fault needs a `kind`"
            fix = "add `kind: latency` (or down, timeout, reset)"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            ctx = err.get("ctx") or {}
            limits = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
            fix = "use a value " + " and ".join(f"{op} {ctx[k]}" for k, op in limits.items() if k in ctx)
        elif "duration" in msg:
            fix = "write durations like 500ms, 10s or 2m"
        problems.append(
            Problem(file, _fmt(where), msg, value=_short(value), line=_line_for(lines, where), fix=fix)
        )
    return problems


def _short(value: Any) -> Any:
    if isinstance(value, dict | list):
        return None
    return value


def _known_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names valid at ``loc``, following fault ``kind`` tags and mapping keys."""
    from harness.scenario.models import FAULT_MODELS

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
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _validate(model: type[BaseModel], data: Any, lines: dict[Path_, int], file: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                Problem(
                    file,
                    "(top level)",
                    "expected a mapping of fields",
                    line=1,
                    fix="start the file with `name: ...`",
                )
            ]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems_from(exc, data, lines, file, model)) from None


def find_target_dir(name: str, scenario_path: Path) -> Path | None:
    """Where target ``name`` lives: a path relative to the scenario, then the usual places."""
    candidates: list[Path] = []
    if "/" in name or name.startswith("."):
        candidates.append((scenario_path.parent / name).resolve())
    else:
        candidates.append(scenario_path.resolve().parent.parent / "targets" / name)
        candidates.append(Path.cwd() / "targets" / name)
        for extra in filter(None, os.environ.get("AFTERSHOCK_TARGETS", "").split(os.pathsep)):
            candidates.append(Path(extra) / name)
    for c in candidates:
        if (c / "target.yaml").is_file():
            return c
    return None


def load_target(target_dir: Path) -> Target:
    path = target_dir / "target.yaml"
    data, lines = _read_yaml(path)
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": target_dir.name}
    target: Target = _validate(Target, data, lines, str(path))
    problems = _check_target(target, lines, str(path))
    if problems:
        raise ScenarioError(problems)
    return target


def _check_target(target: Target, lines: dict[Path_, int], file: str) -> list[Problem]:
    problems: list[Problem] = []
    services = set(target.services)
    for i, link in enumerate(target.links):
        m = LINK_RE.match(link)
        if not m:
            problems.append(
                Problem(
                    file,
                    f"links[{i}]",
                    "not of the form 'client->server'",
                    link,
                    _line_for(lines, ("links", i)),
                    "write it like `api->db`",
                )
            )
            continue
        for end in m.groups():
            if end not in services:
                problems.append(
                    Problem(
                        file,
                        f"links[{i}]",
                        f"no service named {end!r}",
                        link,
                        _line_for(lines, ("links", i)),
                        f"services are: {', '.join(sorted(services))}",
                    )
                )
    for n, source in enumerate(target.audit):
        if source.service not in services:
            problems.append(
                Problem(
                    file,
                    f"audit[{n}].service",
                    "no such service",
                    source.service,
                    _line_for(lines, ("audit", n)),
                    f"use one of: {', '.join(sorted(services))}",
                )
            )
    for mode, per_service in target.modes.items():
        for service in per_service:
            if service not in services:
                problems.append(
                    Problem(
                        file,
                        f"modes.{mode}.{service}",
                        "no such service",
                        service,
                        _line_for(lines, ("modes", mode, service)),
                        f"use one of: {', '.join(sorted(services))}",
                    )
                )
    if target.entrypoint not in services:
        problems.append(
            Problem(
                file,
                "entrypoint",
                "no such service",
                target.entrypoint,
                _line_for(lines, ("entrypoint",)),
                f"use one of: {', '.join(sorted(services))}",
            )
        )
    for name, svc in target.services.items():
        for dep in svc.depends_on:
            if dep not in services:
                problems.append(
                    Problem(
                        file,
                        f"services.{name}.depends_on",
                        "no such service",
                        dep,
                        _line_for(lines, ("services", name, "depends_on")),
                        f"use one of: {', '.join(sorted(services))}",
                    )
                )
        texts: list[tuple[Path_, str]] = [
            (("services", name, "command", i), t) for i, t in enumerate(svc.command)
        ]
        texts += [(("services", name, "env", k), v) for k, v in svc.env.items()]
        for where, text in texts:
            for ph in PLACEHOLDER.finditer(text):
                key, arg = ph.group(1), ph.group(2)
                if key == "link":
                    if arg not in target.links:
                        problems.append(
                            Problem(
                                file,
                                _fmt(where),
                                f"{{link:{arg}}} is not a link of this target",
                                arg,
                                _line_for(lines, where),
                                f"links are: {', '.join(target.links) or 'none'}",
                            )
                        )
                    elif arg.split("->")[0] != name:
                        problems.append(
                            Problem(
                                file,
                                _fmt(where),
                                f"service {name!r} uses link {arg!r} whose client is another service",
                                arg,
                                _line_for(lines, where),
                                "a service may only use links it is the client of",
                            )
                        )
                elif key not in SIMPLE_PLACEHOLDERS or arg is not None:
                    problems.append(
                        Problem(
                            file,
                            _fmt(where),
                            f"unknown placeholder {ph.group(0)}",
                            None,
                            _line_for(lines, where),
                            "use {python}, {port}, {host}, {link:a->b}, {target_dir}, {workdir} or {run_id}",
                        )
                    )
    if not problems:
        try:
            target.start_order()
        except ValueError as exc:
            problems.append(Problem(file, "services", str(exc), fix="remove one dependency of the cycle"))
    return problems


def _parse(path: Path) -> tuple[Scenario, dict[Path_, int]]:
    data, lines = _read_yaml(path)
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": path.stem}
    scenario: Scenario = _validate(Scenario, data, lines, str(path))
    return scenario, lines


def parse_scenario(path: Path | str) -> Scenario:
    """The scenario model alone, without resolving its target (for analysing a finished run)."""
    return _parse(Path(path))[0]


def load_scenario(path: Path | str) -> LoadedScenario:
    """Parse and check a scenario and its target. Raises :class:`ScenarioError` listing every problem."""
    path = Path(path)
    file = str(path)
    scenario, lines = _parse(path)

    target_dir = find_target_dir(scenario.target.name, path)
    if target_dir is None:
        raise ScenarioError(
            [
                Problem(
                    file,
                    "target",
                    "no target of that name (looked for targets/<name>/target.yaml)",
                    scenario.target.name,
                    _line_for(lines, ("target",)),
                    f"available: {', '.join(available_targets(path)) or 'none found'}",
                )
            ]
        )
    target = load_target(target_dir)
    problems: list[Problem] = []
    mode = scenario.target.mode
    if mode is not None and mode not in target.modes:
        problems.append(
            Problem(
                file,
                "target.mode",
                f"target {target.name!r} has no such mode",
                mode,
                _line_for(lines, ("target", "mode")),
                f"modes are: {', '.join(target.modes) or 'none'}",
            )
        )
    for service in scenario.target.env:
        if service not in target.services:
            problems.append(
                Problem(
                    file,
                    f"target.env.{service}",
                    "no such service in the target",
                    service,
                    _line_for(lines, ("target", "env", service)),
                    f"services are: {', '.join(target.services)}",
                )
            )
    observe = scenario.load.duration
    for i, fault in enumerate(scenario.faults):
        link = getattr(fault, "link", None)
        if link is not None and link not in target.links:
            problems.append(
                Problem(
                    file,
                    f"faults[{i}].link",
                    f"no such link in target {target.name!r}",
                    link,
                    _line_for(lines, ("faults", i, "link")),
                    f"links are: {', '.join(target.links) or 'none'}",
                )
            )
        fault_service = getattr(fault, "service", None)
        if fault_service is not None and fault_service not in target.services:
            problems.append(
                Problem(
                    file,
                    f"faults[{i}].service",
                    f"no such service in target {target.name!r}",
                    fault_service,
                    _line_for(lines, ("faults", i, "service")),
                    f"services are: {', '.join(target.services)}",
                )
            )
        if isinstance(fault, PartitionFault):
            problems.extend(_check_partition(fault, target, file, lines, i))
        if isinstance(fault, DeployFault):
            problems.extend(_check_version(file, lines, ("faults", i), target, fault.service, fault.version))
        if fault.duration is None:
            continue  # cleared by a rollback; the rollback's own timing is checked below
        needed = fault.at + fault.duration + scenario.slo.hold
        if needed > observe:
            problems.append(
                Problem(
                    file,
                    f"faults[{i}]",
                    f"load ends at {observe:g}s, before recovery can be observed "
                    f"(at {fault.at:g}s + duration {fault.duration:g}s"
                    f" + slo.hold {scenario.slo.hold:g}s = {needed:g}s)",
                    None,
                    _line_for(lines, ("faults", i)),
                    f"set load.duration to at least {needed + scenario.slo.hold:g}s,"
                    " or move the fault earlier",
                )
            )
    if scenario.rollback is not None:
        problems.extend(_check_rollback(scenario, target, file, lines))
    if scenario.explore is not None:
        ex = scenario.explore
        for n, link in enumerate(ex.links):
            if link not in target.links:
                problems.append(
                    Problem(
                        file,
                        f"explore.links[{n}]",
                        "no such link in the target",
                        link,
                        _line_for(lines, ("explore", "links", n)),
                        f"links are: {', '.join(target.links) or 'none'}",
                    )
                )
        for n, service in enumerate(ex.services):
            if service not in target.services:
                problems.append(
                    Problem(
                        file,
                        f"explore.services[{n}]",
                        "no such service in the target",
                        service,
                        _line_for(lines, ("explore", "services", n)),
                        f"services are: {', '.join(target.services)}",
                    )
                )
        latest = ex.start[1] + ex.duration[1] + scenario.slo.hold
        if latest > scenario.load.duration:
            problems.append(
                Problem(
                    file,
                    "explore",
                    f"a fault may end at {latest:g}s (start + duration + hold),"
                    f" after the load ends at {scenario.load.duration:g}s",
                    None,
                    _line_for(lines, ("explore",)),
                    f"set load.duration to at least {latest:g}s or narrow explore.start/duration",
                )
            )
    problems.extend(  # the operations view (harness/scenario/monitoring.py)
        monitoring_problems(
            scenario.monitoring,
            services=list(target.services),
            modes=target.modes,
            target_dir=target_dir,
            expects_detection=scenario.expect.time_to_detect is not None
            or scenario.expect.alerts is not None,
            file=file,
            line_for=lambda where: _line_for(lines, where),
        )
    )
    if scenario.load.locustfile is not None and not (target_dir / scenario.load.locustfile).is_file():
        problems.append(
            Problem(
                file,
                "load.locustfile",
                "no such file in the target directory",
                scenario.load.locustfile,
                _line_for(lines, ("load", "locustfile")),
                f"give a path relative to {target_dir}",
            )
        )
    if problems:
        raise ScenarioError(problems)
    return LoadedScenario(scenario=scenario, path=path, target=target, target_dir=target_dir)


def _check_version(
    file: str, lines: dict[Path_, int], where: Path_, target: Target, service: str, version: str
) -> list[Problem]:
    svc = target.services.get(service)
    if svc is None:
        return []  # reported as an unknown service already
    if version not in svc.versions:
        return [
            Problem(
                file,
                _fmt((*where, "version")),
                f"service {service!r} has no such version",
                version,
                _line_for(lines, (*where, "version")),
                f"versions of {service} in target.yaml: {', '.join(svc.versions) or 'none declared'}",
            )
        ]
    return []


def _check_rollback(scenario: Scenario, target: Target, file: str, lines: dict[Path_, int]) -> list[Problem]:
    rb = scenario.rollback
    assert rb is not None
    problems: list[Problem] = []
    services = [("rollback", "action", "redeploy"), ("rollback", "action", "flag"), ("rollback", "confirm")]
    for where in services:
        part = (
            rb.action.redeploy
            if where[-1] == "redeploy"
            else rb.action.flag
            if where[-1] == "flag"
            else rb.confirm
        )
        if part is not None and part.service not in target.services:
            problems.append(
                Problem(
                    file,
                    _fmt((*where, "service")),
                    "no such service in the target",
                    part.service,
                    _line_for(lines, (*where, "service")),
                    f"services are: {', '.join(target.services)}",
                )
            )
    if rb.action.redeploy is not None:
        problems.extend(
            _check_version(
                file,
                lines,
                ("rollback", "action", "redeploy"),
                target,
                rb.action.redeploy.service,
                rb.action.redeploy.version,
            )
        )
    if rb.trigger == "manual" and rb.at is not None and rb.at + scenario.slo.hold > scenario.load.duration:
        problems.append(
            Problem(
                file,
                "rollback.at",
                f"load ends at {scenario.load.duration:g}s, before the "
                f"recovery after a rollback at {rb.at:g}s can be observed",
                None,
                _line_for(lines, ("rollback", "at")),
                f"set load.duration to at least {rb.at + 2 * scenario.slo.hold:g}s",
            )
        )
    return problems


def _check_partition(
    fault: PartitionFault, target: Target, file: str, lines: dict[Path_, int], i: int
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for g, group in enumerate(fault.groups):
        for name in group:
            where = ("faults", i, "groups", g)
            if name not in target.services:
                problems.append(
                    Problem(
                        file,
                        f"faults[{i}].groups[{g}]",
                        "no such service",
                        name,
                        _line_for(lines, where),
                        f"services are: {', '.join(target.services)}",
                    )
                )
            elif name in seen:
                problems.append(
                    Problem(
                        file,
                        f"faults[{i}].groups[{g}]",
                        "service is in two groups",
                        name,
                        _line_for(lines, where),
                        "put each service in one group only",
                    )
                )
            seen.add(name)
    if not problems and not partition_links(fault, target):
        problems.append(
            Problem(
                file,
                f"faults[{i}].groups",
                "no link of the target crosses this partition",
                None,
                _line_for(lines, ("faults", i, "groups")),
                f"links are: {', '.join(target.links) or 'none'}",
            )
        )
    return problems


def partition_links(fault: PartitionFault, target: Target) -> list[str]:
    """The target's links whose two ends are in different groups of the partition."""
    group_of = {name: g for g, group in enumerate(fault.groups) for name in group}
    crossing = []
    for link in target.links:
        client, server = target.link_ends(link)
        if client in group_of and server in group_of and group_of[client] != group_of[server]:
            crossing.append(link)
    return crossing


def available_targets(scenario_path: Path | None = None) -> list[str]:
    roots = [Path.cwd() / "targets"]
    if scenario_path is not None:
        roots.insert(0, scenario_path.resolve().parent.parent / "targets")
    names = {p.parent.name for root in roots if root.is_dir() for p in root.glob("*/target.yaml")}
    return sorted(names)
