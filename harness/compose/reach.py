"""Paths between Compose services that no declared link covers, seen from the Compose file.

aftershock routes each declared link through Toxiproxy and takes a link's server off every
network it had (see :mod:`harness.compose.override`), so a server is reachable only through its
links. Two services that are *not* link servers keep the networks the file gives them; if they
share one and no link is declared between them, either may call the other directly: link faults
never touch that path (a partition still cuts it, by moving containers off the shared network).
That is worth a warning, never an error: most such pairs never talk. Read from the file alone,
before anything starts; a file this cannot read (custom tags, ``include``) gives no warning.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class DirectPath:
    """Services ``a`` and ``b`` share Compose network ``network`` and no link joins them."""

    a: str
    b: str
    network: str

    def warning(self) -> str:
        return (
            f"services {self.a} and {self.b} share the Compose network {self.network!r} and no link"
            f" is declared between them: if one calls the other, link faults do not reach that path"
            f" (a partition cuts it by disconnecting the network); declare the link"
            f" ({self.a}->{self.b} or {self.b}->{self.a}) in target.yaml to fault it"
        )


def _networks(spec: dict[str, Any]) -> set[str]:
    mode = spec.get("network_mode")
    if mode is not None and mode != "bridge":
        return set()  # host, none, service:x, container:x: not a Compose network
    nets = spec.get("networks")
    if nets is None:
        return {"default"}
    return {str(n) for n in nets} if isinstance(nets, list | dict) else set()


def direct_paths(compose_file: Path, links: list[tuple[str, str]]) -> list[DirectPath]:
    """Pairs of services that may reach each other outside every declared link (see the module)."""
    try:
        data = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []
    # a declared link's server is taken off its networks, so a pair with a link is never here
    servers = {server for _, server in links}
    nets = {
        str(name): _networks(spec)
        for name, spec in services.items()
        if isinstance(spec, dict) and str(name) not in servers
    }
    found = []
    for a, b in itertools.combinations(sorted(nets), 2):
        shared = sorted(nets[a] & nets[b])
        if shared:
            found.append(DirectPath(a, b, shared[0]))
    return found
