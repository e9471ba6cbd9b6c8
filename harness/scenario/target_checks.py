"""The rules a ``target.yaml`` must follow beyond its types, one function per rule.

Each rule takes the parsed target and its document and yields :class:`~harness.errors.Problem` s;
:data:`TARGET_RULES` lists them in the order they are reported. Every rule runs, so a user sees
every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from harness.errors import Problem
from harness.scenario.target import LINK_RE, PLACEHOLDER, SIMPLE_PLACEHOLDERS, Target
from harness.scenario.yamlsource import Path_, YamlDocument, fmt_path


@dataclass(frozen=True)
class TargetContext:
    target: Target
    doc: YamlDocument

    def problem(self, where: Path_, message: str, value: object, fix: str) -> Problem:
        return Problem(self.doc.file, fmt_path(where), message, value, self.doc.line(where), fix)

    def services_fix(self) -> str:
        return f"use one of: {', '.join(sorted(self.target.services))}"


TargetRule = Callable[[TargetContext], Iterator[Problem]]


def links_are_client_to_server(ctx: TargetContext) -> Iterator[Problem]:
    for i, link in enumerate(ctx.target.links):
        m = LINK_RE.match(link)
        if not m:
            yield ctx.problem(
                ("links", i), "not of the form 'client->server'", link, "write it like `api->db`"
            )
            continue
        for end in m.groups():
            if end not in ctx.target.services:
                yield ctx.problem(("links", i), f"no service named {end!r}", link, ctx.services_fix())


def audit_names_services(ctx: TargetContext) -> Iterator[Problem]:
    for n, source in enumerate(ctx.target.audit):
        if source.service not in ctx.target.services:
            yield ctx.problem(("audit", n, "service"), "no such service", source.service, ctx.services_fix())


def modes_name_services(ctx: TargetContext) -> Iterator[Problem]:
    for mode, per_service in ctx.target.modes.items():
        for service in per_service:
            if service not in ctx.target.services:
                yield ctx.problem(("modes", mode, service), "no such service", service, ctx.services_fix())


def entrypoint_is_a_service(ctx: TargetContext) -> Iterator[Problem]:
    if ctx.target.entrypoint not in ctx.target.services:
        yield ctx.problem(("entrypoint",), "no such service", ctx.target.entrypoint, ctx.services_fix())


def dependencies_are_services(ctx: TargetContext) -> Iterator[Problem]:
    for name, svc in ctx.target.services.items():
        for dep in svc.depends_on:
            if dep not in ctx.target.services:
                yield ctx.problem(
                    ("services", name, "depends_on"), "no such service", dep, ctx.services_fix()
                )


def versions_are_declared(ctx: TargetContext) -> Iterator[Problem]:
    for name, svc in ctx.target.services.items():
        if svc.version is not None and svc.version not in svc.versions:
            yield ctx.problem(
                ("services", name, "version"),
                "no such version among `versions`",
                svc.version,
                f"versions of {name}: {', '.join(svc.versions) or 'none declared'}",
            )


def placeholders_are_known(ctx: TargetContext) -> Iterator[Problem]:
    target = ctx.target
    for name, svc in target.services.items():
        texts: list[tuple[Path_, str]] = [
            (("services", name, "command", i), t) for i, t in enumerate(svc.command or [])
        ]
        texts += [(("services", name, "env", k), v) for k, v in svc.env.items()]
        for where, text in texts:
            for ph in PLACEHOLDER.finditer(text):
                key, arg = ph.group(1), ph.group(2)
                if key == "link":
                    if arg not in target.links:
                        yield ctx.problem(
                            where,
                            f"{{link:{arg}}} is not a link of this target",
                            arg,
                            f"links are: {', '.join(target.links) or 'none'}",
                        )
                    elif arg.split("->")[0] != name:
                        yield ctx.problem(
                            where,
                            f"service {name!r} uses link {arg!r} whose client is another service",
                            arg,
                            "a service may only use links it is the client of",
                        )
                elif key not in SIMPLE_PLACEHOLDERS or arg is not None:
                    yield ctx.problem(
                        where,
                        f"unknown placeholder {ph.group(0)}",
                        None,
                        "use {python}, {port}, {host}, {link:a->b}, {target_dir}, {workdir} or {run_id}",
                    )


TARGET_RULES: tuple[TargetRule, ...] = (
    links_are_client_to_server,
    audit_names_services,
    modes_name_services,
    entrypoint_is_a_service,
    dependencies_are_services,
    versions_are_declared,
    placeholders_are_known,
)


def check_target(target: Target, doc: YamlDocument) -> list[Problem]:
    """Every problem of every rule; the start order is checked once the names all resolve."""
    ctx = TargetContext(target, doc)
    problems = [p for rule in TARGET_RULES for p in rule(ctx)]
    if not problems:
        try:
            target.start_order()
        except ValueError as exc:
            problems.append(ctx.problem(("services",), str(exc), None, "remove one dependency of the cycle"))
    return problems
