"""From a fault in a scenario to the context manager that injects and clears it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from harness.faults.link import LinkFault
from harness.faults.partition import Partition
from harness.faults.service import ServiceCrash, ServiceDeploy, ServicePause
from harness.load.control import DuplicateRequests, LoadControl
from harness.scenario.loader import partition_links
from harness.scenario.models import (
    CrashFault,
    DeployFault,
    DownFault,
    DuplicateFault,
    Fault,
    LatencyFault,
    PartitionFault,
    PauseFault,
    ResetFault,
    ResponseLossFault,
    TimeoutFault,
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
    if isinstance(fault, LatencyFault | DownFault | TimeoutFault | ResetFault | ResponseLossFault):
        return LinkFault(fault, proxies, fault_id)
    if isinstance(fault, DuplicateFault):
        return DuplicateRequests(fault, control)
    if isinstance(fault, CrashFault):
        return ServiceCrash(fault, backend)
    if isinstance(fault, DeployFault):
        return ServiceDeploy(fault, backend)
    if isinstance(fault, PauseFault):
        return ServicePause(fault, backend)
    if isinstance(fault, PartitionFault):
        return Partition(fault, partition_links(fault, target), proxies, fault_id)
    raise TypeError(f"no injector for fault kind {fault.kind!r}")
