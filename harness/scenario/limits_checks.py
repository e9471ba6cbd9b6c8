"""The scenario rules about container limits and the faults that act on them (``oom``, ``cpu_starve``).

Only containers have cgroup limits aftershock can set: on the process backend both the limits and
the faults are refused (this machine's /sys/fs/cgroup is cgroup v1 and the harness does not own a
cgroup of its own to put services in, so doing it there would not be honest). Each problem names
file, line, field, value and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import Problem
from harness.scenario.context import ScenarioContext
from harness.scenario.limits import Limits
from harness.scenario.models import RESOURCE_FAULT_KINDS, CpuStarveFault
from harness.scenario.yamlsource import fmt_path

CONTAINER_BACKENDS = ("docker", "compose")


def effective_limits(ctx: ScenarioContext, service: str) -> Limits | None:
    """target.yaml's limits of ``service`` with the scenario's over them."""
    spec = ctx.target.services.get(service)
    base = spec.limits if spec is not None else None
    over = ctx.scenario.target.limits.get(service)
    if base is None:
        return over
    return base.merged(over)


def resource_faults_need_containers(ctx: ScenarioContext) -> Iterator[Problem]:
    if ctx.backend in CONTAINER_BACKENDS:
        return
    for i, fault in enumerate(ctx.scenario.faults):
        if fault.kind in RESOURCE_FAULT_KINDS:
            yield ctx.problem(
                ("faults", i, "kind"),
                f"`{fault.kind}` acts on a container's cgroup limits; the {ctx.backend} backend has none",
                fault.kind,
                "use backend: docker or compose (or `--backend docker`)",
            )


def limits_need_containers(ctx: ScenarioContext) -> Iterator[Problem]:
    if ctx.backend in CONTAINER_BACKENDS:
        return
    for service in ctx.scenario.target.limits:
        yield ctx.problem(
            ("target", "limits", service),
            f"limits are container limits; the {ctx.backend} backend cannot apply them",
            service,
            "use backend: docker or compose, or remove target.limits",
        )
    for name, spec in ctx.target.services.items():
        if spec.limits is not None:
            where = ("services", name, "limits")
            yield Problem(
                ctx.target_doc.file,
                fmt_path(where),
                f"limits are container limits; the {ctx.backend} backend cannot apply them",
                name,
                ctx.target_doc.line(where),
                "run it with backend: docker or compose, or remove the limits",
            )


def limits_name_services(ctx: ScenarioContext) -> Iterator[Problem]:
    for service in ctx.scenario.target.limits:
        if service not in ctx.target.services:
            yield ctx.problem(
                ("target", "limits", service), "no such service in the target", service, ctx.services_fix
            )


def starvation_starves(ctx: ScenarioContext) -> Iterator[Problem]:
    """A cpu_starve must leave less CPU than the service's own limit, or nothing changes."""
    for i, fault in enumerate(ctx.scenario.faults):
        if not isinstance(fault, CpuStarveFault):
            continue
        limits = effective_limits(ctx, fault.service)
        if limits is not None and limits.cpus is not None and fault.cpus >= limits.cpus:
            yield ctx.problem(
                ("faults", i, "cpus"),
                f"not below the service's own limit of {limits.cpus:g} CPUs: nothing would be starved",
                fault.cpus,
                f"give cpus below {limits.cpus:g}",
            )


LIMIT_RULES = (
    resource_faults_need_containers,
    limits_need_containers,
    limits_name_services,
    starvation_starves,
)
