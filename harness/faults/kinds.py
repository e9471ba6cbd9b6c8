"""From a fault in a scenario to the context manager that injects and clears it.

Only the fault's effect reaches the injector (a link and its toxics, a service and an action);
its ``at`` and ``duration`` stay with the timeline, which owns "when"."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from harness.faults.link import LinkFault, LinkFaultSpec, link_effect
from harness.faults.partition import Partition, crossing_links
from harness.faults.service import ServiceCrash, ServiceDeploy, ServicePause
from harness.load.control import DuplicateRequests, LoadControl
from harness.scenario.models import (
    CpuStarveFault,
    CrashFault,
    DeployFault,
    DuplicateFault,
    Fault,
    OomFault,
    PartitionFault,
    PauseFault,
)
from harness.scenario.target import Target
from harness.targets.backend import Backend
from harness.toxiproxy.proxies import LinkProxies


def build_fault(
    fault: Fault,
    fault_id: str,
    *,
    proxies: LinkProxies,
    backend: Backend,
    target: Target,
    control: LoadControl,
) -> AbstractContextManager[Any]:
    if isinstance(fault, LinkFaultSpec):
        return LinkFault(link_effect(fault), proxies, fault_id)
    if isinstance(fault, DuplicateFault):
        return DuplicateRequests(fault, control)
    if isinstance(fault, CrashFault):
        return ServiceCrash.of(fault, backend)
    if isinstance(fault, DeployFault):
        return ServiceDeploy(fault.service, fault.version, backend)
    if isinstance(fault, PauseFault):
        return ServicePause(fault.service, backend)
    if isinstance(fault, PartitionFault):
        network = backend.network_partition(fault.groups, fault_id)
        return Partition(crossing_links(fault.groups, target), proxies, fault_id, network)
    if isinstance(fault, OomFault | CpuStarveFault):
        from harness.faults.resources import resource_fault  # the Docker SDK only when used

        return resource_fault(fault, backend)
    raise TypeError(f"no injector for fault kind {fault.kind!r}")
