"""The rules a scenario must follow against its target, one function per rule.

Types and ranges are the models' job; these rules need the target (its links, services,
versions, files) or look across fields (a fault must end in time to observe recovery, two faults
may not share a link at once). :data:`SCENARIO_RULES` lists them; every rule runs, so a user sees
every problem at once. Each problem names file, line, field, value and a fix whose numbers are
exact: applying the fix makes the rule pass.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import Problem
from harness.scenario.backend_rules import rules_for
from harness.scenario.context import ScenarioContext as ScenarioContext
from harness.scenario.lookup import is_file
from harness.scenario.models import (
    RESOURCE_FAULT_KINDS,
    CommandAction,
    DeployFault,
    PartitionFault,
)
from harness.scenario.monitoring import monitoring_problems
from harness.scenario.overlap import overlaps, partition_links
from harness.scenario.target import PLACEHOLDER
from harness.scenario.yamlsource import Path_, fmt_path

ScenarioRule = Callable[[ScenarioContext], Iterator[Problem]]


def mode_is_declared(ctx: ScenarioContext) -> Iterator[Problem]:
    mode = ctx.scenario.target.mode
    if mode is not None and mode not in ctx.target.modes:
        yield ctx.problem(
            ("target", "mode"),
            f"target {ctx.target.name!r} has no such mode",
            mode,
            f"modes are: {', '.join(ctx.target.modes) or 'none'}",
        )


def env_names_services(ctx: ScenarioContext) -> Iterator[Problem]:
    for service in ctx.scenario.target.env:
        if service not in ctx.target.services:
            yield ctx.problem(
                ("target", "env", service), "no such service in the target", service, ctx.services_fix
            )


def faults_hit_known_places(ctx: ScenarioContext) -> Iterator[Problem]:
    for i, fault in enumerate(ctx.scenario.faults):
        link = getattr(fault, "link", None)
        if link is not None and link not in ctx.target.links:
            yield ctx.problem(
                ("faults", i, "link"), f"no such link in target {ctx.target.name!r}", link, ctx.links_fix
            )
        service = getattr(fault, "service", None)
        if service is not None and service not in ctx.target.services:
            yield ctx.problem(
                ("faults", i, "service"),
                f"no such service in target {ctx.target.name!r}",
                service,
                ctx.services_fix,
            )
        if isinstance(fault, PartitionFault):
            yield from _partition(ctx, fault, i)
        if isinstance(fault, DeployFault):
            yield from _version(ctx, ("faults", i), fault.service, fault.version)


def _partition(ctx: ScenarioContext, fault: PartitionFault, i: int) -> Iterator[Problem]:
    seen: set[str] = set()
    wrong = False
    for g, group in enumerate(fault.groups):
        for name in group:
            where = ("faults", i, "groups", g)
            if name not in ctx.target.services:
                wrong = True
                yield ctx.problem(where, "no such service", name, ctx.services_fix)
            elif name in seen:
                wrong = True
                yield ctx.problem(
                    where, "service is in two groups", name, "put each service in one group only"
                )
            seen.add(name)
    if not wrong and not partition_links(fault, ctx.target):
        yield ctx.problem(
            ("faults", i, "groups"), "no link of the target crosses this partition", None, ctx.links_fix
        )


def _version(ctx: ScenarioContext, where: Path_, service: str, version: str) -> Iterator[Problem]:
    svc = ctx.target.services.get(service)
    if svc is not None and version not in svc.versions:
        yield ctx.problem(
            (*where, "version"),
            f"service {service!r} has no such version",
            version,
            f"versions of {service} in target.yaml: {', '.join(svc.versions) or 'none declared'}",
        )


def faults_leave_time_to_recover(ctx: ScenarioContext) -> Iterator[Problem]:
    s = ctx.scenario
    observe, hold = s.load.duration, s.slo.hold
    for i, fault in enumerate(s.faults):
        if fault.duration is None:
            continue  # cleared by a rollback; the rollback's own timing is checked below
        needed = fault.at + fault.duration + hold
        if needed > observe:
            yield ctx.problem(
                ("faults", i),
                f"load ends at {observe:g}s, before recovery can be observed "
                f"(at {fault.at:g}s + duration {fault.duration:g}s + slo.hold {hold:g}s = {needed:g}s)",
                None,
                f"set load.duration to at least {needed:g}s, or move the fault earlier",
            )


def faults_do_not_overlap(ctx: ScenarioContext) -> Iterator[Problem]:
    faults = ctx.scenario.faults
    for earlier, later, place in overlaps(faults, ctx.target):
        a, b = faults[earlier], faults[later]
        if a == b:
            continue  # the same fault twice: faults_are_not_repeated says so
        end = a.at + (a.duration or 0.0)
        yield ctx.problem(
            ("faults", later),
            f"overlaps faults[{earlier}] on {place} ({a.kind} from {a.at:g}s to {end:g}s, "
            f"{b.kind} from {b.at:g}s): stacked faults cannot be told apart in the measurement",
            None,
            f"start faults[{later}] at {end:g}s or later, or put both effects in one fault",
        )


def faults_are_not_repeated(ctx: ScenarioContext) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, fault in enumerate(ctx.scenario.faults):
        key = fault.model_dump_json()
        if key in first:
            yield ctx.problem(
                ("faults", i), f"the same fault as faults[{first[key]}]", None, "remove the copy"
            )
        else:
            first[key] = i


def rollback_fits(ctx: ScenarioContext) -> Iterator[Problem]:
    rb = ctx.scenario.rollback
    if rb is None:
        return
    parts = (("redeploy", rb.action.redeploy, ("rollback", "action", "redeploy")),
             ("flag", rb.action.flag, ("rollback", "action", "flag")),
             ("confirm", rb.confirm, ("rollback", "confirm")))  # fmt: skip
    for _, part, where in parts:
        if part is not None and part.service not in ctx.target.services:
            yield ctx.problem(
                (*where, "service"), "no such service in the target", part.service, ctx.services_fix
            )
    if rb.action.redeploy is not None:
        redeploy = rb.action.redeploy
        yield from _version(ctx, ("rollback", "action", "redeploy"), redeploy.service, redeploy.version)
    hold, observe = ctx.scenario.slo.hold, ctx.scenario.load.duration
    if rb.trigger == "manual" and rb.at is not None and rb.at + hold > observe:
        yield ctx.problem(
            ("rollback", "at"),
            f"load ends at {observe:g}s, before the recovery after a rollback at {rb.at:g}s can be observed",
            None,
            f"set load.duration to at least {rb.at + hold:g}s",
        )


def explore_fits(ctx: ScenarioContext) -> Iterator[Problem]:
    ex = ctx.scenario.explore
    if ex is None:
        return
    for n, link in enumerate(ex.links):
        if link not in ctx.target.links:
            yield ctx.problem(("explore", "links", n), "no such link in the target", link, ctx.links_fix)
    for n, service in enumerate(ex.services):
        if service not in ctx.target.services:
            yield ctx.problem(
                ("explore", "services", n), "no such service in the target", service, ctx.services_fix
            )
    for n, kind in enumerate(ex.kinds):
        if kind in RESOURCE_FAULT_KINDS and ctx.scenario.backend == "process":
            yield ctx.problem(
                ("explore", "kinds", n),
                "acts on a container's cgroup limits: the process backend has none",
                kind,
                "run with backend docker or compose, or leave it out of explore.kinds",
            )
    latest = ex.start[1] + ex.duration[1] + ctx.scenario.slo.hold
    if latest > ctx.scenario.load.duration:
        yield ctx.problem(
            ("explore",),
            f"a fault may end at {latest:g}s (start + duration + hold),"
            f" after the load ends at {ctx.scenario.load.duration:g}s",
            None,
            f"set load.duration to at least {latest:g}s or narrow explore.start/duration",
        )


def locustfile_exists(ctx: ScenarioContext) -> Iterator[Problem]:
    locustfile = ctx.scenario.load.locustfile
    if locustfile is not None and not is_file(ctx.target_dir / locustfile):
        yield ctx.problem(
            ("load", "locustfile"),
            "no such file in the target directory",
            locustfile,
            f"give a path relative to {ctx.target_dir}",
        )


def programs_exist(ctx: ScenarioContext) -> Iterator[Problem]:
    """Every program the process backend starts, and the rollback command, can be found."""
    if ctx.backend == "process":
        for name, svc in ctx.target.services.items():
            if svc.command is None:  # a Compose target's service: Compose starts it
                continue
            missing = _missing_program(svc.command, ctx.target_dir)
            if missing is not None:
                where = ("services", name, "command")
                what, value, fix = missing
                yield Problem(
                    ctx.target_doc.file, fmt_path(where), what, value, ctx.target_doc.line(where), fix
                )
    rb = ctx.scenario.rollback
    command: CommandAction | None = rb.action.command if rb is not None else None
    if command is not None:
        missing = _missing_program(command.run, ctx.doc_dir)
        if missing is not None:
            yield ctx.problem(("rollback", "action", "command", "run"), *missing)


def _missing_program(argv: list[str], cwd: Path) -> tuple[str, str, str] | None:
    """(what is wrong, the value, fix) when ``argv`` cannot start from ``cwd``; None when it can (or when a
    placeholder makes it unknowable before the run)."""
    program = argv[0]
    if program == "{python}":
        script = argv[1] if len(argv) > 1 else ""
        is_script = script.endswith(".py") and not script.startswith("-") and not PLACEHOLDER.search(script)
        if is_script and not is_file(cwd / script):
            return f"the script does not exist in {cwd}", script, f"create {cwd / script} or fix the path"
        return None
    if PLACEHOLDER.search(program):
        return None
    if "/" in program:
        path = cwd / program
        if not is_file(path):
            return f"no such program (looked at {path})", program, "fix the path or install it"
        if not os.access(path, os.X_OK):
            return "the program is not executable", program, f"chmod +x {path}"
        return None
    if _which(program) is None:
        return "no such program on PATH", program, "install it, or give its full path"
    return None


def _which(program: str) -> str | None:
    try:
        return shutil.which(program)
    except (OSError, ValueError):  # a name the OS refuses is no program
        return None


def backend_accepts_the_target(ctx: ScenarioContext) -> Iterator[Problem]:
    """What the backend itself requires of the target's files (Docker: an image or a Dockerfile
    per service, valid ``docker:`` sections), as that backend registered it."""
    check = rules_for(ctx.backend).problems
    if check is None:
        return
    for p in check(ctx.target, ctx.target_dir):  # the check knows the field; the document its line
        yield p if p.line else dataclasses.replace(p, line=ctx.target_doc.line(_parse_field(p.field)))


def _parse_field(field: str) -> Path_:
    """``services.api.docker.command[0]`` -> ``("services", "api", "docker", "command", 0)``."""
    parts: list[str | int] = []
    for name in field.split("."):
        head, *indices = name.replace("]", "").split("[")
        parts.append(head)
        parts.extend(int(i) for i in indices if i.isdigit())
    return tuple(parts)


def monitoring_is_runnable(ctx: ScenarioContext) -> Iterator[Problem]:
    """The operations view: services to scrape, rule files, modes, detection without monitoring."""
    s = ctx.scenario
    yield from monitoring_problems(
        s.monitoring,
        services=list(ctx.target.services),
        modes=ctx.target.modes,
        target_dir=ctx.target_dir,
        expects_detection=s.expect.time_to_detect is not None or s.expect.alerts is not None,
        file=ctx.doc.file,
        line_for=ctx.doc.line,
    )


def backend_can_start_the_target(ctx: ScenarioContext) -> Iterator[Problem]:
    """Compose needs a Compose file; processes and containers need each service's command and health."""
    file = str(ctx.target_dir / "target.yaml")
    if ctx.backend == "compose":
        if ctx.target.compose is None:
            yield Problem(
                file,
                "compose",
                "the compose backend needs a Compose file",
                fix="add `compose: compose.yaml` (relative to the target) or use --backend process/docker",
            )
        return
    from harness.scenario.target import needs_command_and_health

    for name, svc in ctx.target.services.items():
        for p in needs_command_and_health(file, name, svc, ctx.backend):
            yield dataclasses.replace(p, line=ctx.target_doc.line(_parse_field(p.field)))


def abort_names_http_service(ctx: ScenarioContext) -> Iterator[Problem]:
    """The HTTP check's service must be an HTTP service of the target (one whose health is
    ``http:``; only those answer on the host, on every backend)."""
    abort = ctx.scenario.abort
    if abort is None or abort.http is None:
        return
    http = [name for name, svc in ctx.target.services.items() if svc.health is not None and svc.health.http]
    if abort.http.service not in http:
        known = abort.http.service in ctx.target.services
        yield ctx.problem(
            ("abort", "http", "service"),
            "not an HTTP service of the target" if known else "no such service in the target",
            abort.http.service,
            f"HTTP services are: {', '.join(http) or 'none'}",
        )


SCENARIO_RULES: tuple[ScenarioRule, ...] = (
    mode_is_declared,
    env_names_services,
    faults_hit_known_places,
    faults_leave_time_to_recover,
    faults_do_not_overlap,
    faults_are_not_repeated,
    rollback_fits,
    explore_fits,
    locustfile_exists,
    backend_can_start_the_target,
    programs_exist,
    backend_accepts_the_target,
    abort_names_http_service,
    monitoring_is_runnable,
)


def check_scenario(ctx: ScenarioContext) -> list[Problem]:
    from harness.scenario.limits_checks import LIMIT_RULES  # container limits and their faults

    return [p for rule in (*SCENARIO_RULES, *LIMIT_RULES) for p in rule(ctx)]
