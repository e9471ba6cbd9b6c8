"""From a scenario's fault to its injector: only the effect crosses (the timeline keeps "when")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from harness.faults.factory import FaultFactory
from harness.faults.kinds import build_fault
from harness.faults.link import LinkEffect, LinkFault, Toxic, link_effect
from harness.faults.partition import Partition, crossing_links
from harness.faults.service import ServiceCrash, ServiceDeploy, ServicePause
from harness.load.control import DuplicateRequests, LoadControl
from harness.scenario.loader import load_target
from harness.scenario.models import (
    BandwidthFault,
    CrashFault,
    DeployFault,
    DownFault,
    DuplicateFault,
    LatencyFault,
    LimitDataFault,
    PartitionFault,
    PauseFault,
    ResetFault,
    ResponseLossFault,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
)
from harness.targets.backend import Backend
from harness.toxiproxy.proxies import LinkProxies

ORDERS = load_target(Path(__file__).resolve().parents[2] / "targets" / "orders")


class Proxies:
    """Stands in for the run's proxies: names only (nothing is injected in these tests)."""

    def name(self, link: str) -> str:
        return f"proxy-{link}"


class Processes:
    """Stands in for the process backend: nothing to cut besides the links, as there."""

    def network_partition(self, groups: list[list[str]], fault_id: str) -> None:
        return None


PROXIES = cast(LinkProxies, Proxies())
BACKEND = cast(Backend, Processes())


def build(fault: Any, tmp_path: Path) -> Any:
    return build_fault(
        fault, "t1f0", proxies=PROXIES, backend=BACKEND, target=ORDERS, control=LoadControl(tmp_path)
    )


def test_link_effects_are_the_toxics_asked_for() -> None:
    slow = LatencyFault(kind="latency", link="api->db", at=3, duration=9, latency=0.3, jitter=0.02)
    assert link_effect(slow) == LinkEffect(
        "api->db", (Toxic("latency", "downstream", 1.0, (("latency", 300), ("jitter", 20))),)
    )
    both = TimeoutFault(kind="timeout", link="api->db", at=0, duration=1, timeout=0.5, toxicity=0.5)
    assert [(t.type, t.stream, t.toxicity) for t in link_effect(both).toxics] == [
        ("timeout", "upstream", 0.5),
        ("timeout", "downstream", 0.5),
    ]
    assert link_effect(DownFault(kind="down", link="api->db", at=1, duration=2)) == LinkEffect(
        "api->db", disable=True
    )
    reset = link_effect(ResetFault(kind="reset", link="api->db", at=1, duration=2, direction="upstream"))
    assert [t.type for t in reset.toxics] == ["reset_peer"]
    loss = link_effect(ResponseLossFault(kind="response_loss", link="api->db", at=1, duration=2))
    assert loss.toxics == (Toxic("limit_data", "downstream", 1.0, (("bytes", 0),)),)


def test_the_degraded_network_toxics_carry_their_attributes_in_toxiproxy_units() -> None:
    where: dict[str, Any] = {"link": "api->db", "at": 1, "duration": 2}
    assert link_effect(BandwidthFault(kind="bandwidth", rate=64, **where)).toxics == (
        Toxic("bandwidth", "downstream", 1.0, (("rate", 64),)),
    )
    sliced = SlicerFault(kind="slicer", average_size=100, size_variation=20, delay=0.0015, **where)
    assert link_effect(sliced).toxics == (  # Toxiproxy's slicer delay is in microseconds
        Toxic("slicer", "downstream", 1.0, (("average_size", 100), ("size_variation", 20), ("delay", 1500))),
    )
    lingering = SlowCloseFault(kind="slow_close", delay=0.25, direction="both", toxicity=0.5, **where)
    assert link_effect(lingering).toxics == (
        Toxic("slow_close", "upstream", 0.5, (("delay", 250),)),
        Toxic("slow_close", "downstream", 0.5, (("delay", 250),)),
    )
    cut = LimitDataFault(kind="limit_data", bytes=4096, direction="upstream", **where)
    assert link_effect(cut).toxics == (Toxic("limit_data", "upstream", 1.0, (("bytes", 4096),)),)


def test_the_same_fault_at_another_time_has_the_same_effect() -> None:
    early = LatencyFault(kind="latency", link="api->db", at=1, duration=2, latency=0.3)
    late = early.model_copy(update={"at": 20.0, "duration": 7.0})
    assert link_effect(early) == link_effect(late)


def test_every_kind_builds_its_injector(tmp_path: Path) -> None:
    link = build(DownFault(kind="down", link="api->db", at=1, duration=2), tmp_path)
    assert isinstance(link, LinkFault) and link.proxy == "proxy-api->db" and link.effect.disable
    crash = build(CrashFault(kind="crash", service="worker", at=1, restart=False, when_log="job"), tmp_path)
    assert isinstance(crash, ServiceCrash) and crash.clears_itself and crash.when_log == "job"
    assert (crash.signal, crash.scope, crash.delay) == ("KILL", "group", 0.0)  # as before: SIGKILL, all
    spec = CrashFault(
        kind="crash", service="worker", at=1, when_log="job", delay=0.2, signal="TERM", scope="children"
    )
    term = build(spec, tmp_path)
    assert (term.signal, term.scope, term.delay) == ("TERM", "children", 0.2)
    slow = build(BandwidthFault(kind="bandwidth", link="api->db", at=1, duration=2, rate=8), tmp_path)
    assert isinstance(slow, LinkFault) and slow.effect.toxics[0].type == "bandwidth"
    deploy = build(DeployFault(kind="deploy", service="api", version="v2", at=1), tmp_path)
    assert isinstance(deploy, ServiceDeploy) and (deploy.service, deploy.version) == ("api", "v2")
    assert isinstance(build(PauseFault(kind="pause", service="db", at=1, duration=1), tmp_path), ServicePause)
    dup = build(DuplicateFault(kind="duplicate", at=1, duration=1, fraction=0.5), tmp_path)
    assert isinstance(dup, DuplicateRequests)
    split = build(PartitionFault(kind="partition", groups=[["api"], ["db"]], at=1, duration=1), tmp_path)
    assert isinstance(split, Partition) and split.links == ["api->db"]


def test_a_partition_cuts_only_the_links_between_its_groups() -> None:
    assert crossing_links([["api"], ["db"]], ORDERS) == ["api->db"]
    assert crossing_links([["api", "db"], ["payments"]], ORDERS) == [
        link for link in ORDERS.links if link.endswith("->payments") and link.split("->")[0] in ("api", "db")
    ]
    assert crossing_links([["api"], ["nobody"]], ORDERS) == []


def test_the_fault_fixture_builds_effects_without_timing() -> None:
    factory = FaultFactory(ORDERS, PROXIES, BACKEND)
    slow = factory.latency("api->db", 250, jitter_ms=10)
    assert isinstance(slow, LinkFault)
    assert slow.effect == LinkEffect(
        "api->db", (Toxic("latency", "downstream", 1.0, (("latency", 250), ("jitter", 10))),)
    )
    assert isinstance(factory.crash("worker"), ServiceCrash)
    with pytest.raises(ValueError, match="not a link of target"):
        factory.down("db->api")
