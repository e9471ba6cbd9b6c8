"""The override file aftershock lays over an application's Compose file, unchanged.

How a link ``api->db`` is made to go through Toxiproxy while ``api`` still dials ``db:5432``:

* each link gets a network of its own (``aftershock-link-api-db``) holding the client and the
  run's Toxiproxy service, which joins it **under the server's name** (alias ``db``);
* the real server is taken off every network it had (``networks: !override``) and put on a
  network of its own (``aftershock-up-db``) that only Toxiproxy shares, where it also answers to
  ``aftershock-upstream-db``: the address the proxy dials;
* so ``db`` resolves, for ``api``, only to Toxiproxy's address on the link network, where the
  proxy listens on ``5432``. Each link has its own Toxiproxy address, so two clients of one server
  (or two servers on one port) never share a proxy.

What else it changes, and why: every service, network and volume carries the run's labels (the
sweep finds them after a SIGKILL); published ports are replaced by ``127.0.0.1:<free port>`` for the
services the harness talks to and removed from the rest (parallel runs must not fight over the
application's fixed host ports); ``container_name`` is dropped (two runs, one name); ``restart``
is ``"no"`` (a crash is the rehearsal's to end, not Docker's); built images get a stable name per
target so the layer cache is reused from run to run; a mode or version adds ``environment``; a
service's ``limits`` become ``mem_limit`` (no swap beyond it: ``memswap_limit`` the same) and
``cpus``, written also as ``deploy.resources.limits`` so that a file which states them there too
gets the same values, never two that Compose would refuse as distinct.

A consequence to know: a server of a link is reachable only through its links, by the clients
declared. Undeclared clients of it can no longer resolve it (declare the link).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

TOXIPROXY_SERVICE = "aftershock-toxiproxy"


def link_network(client: str, server: str) -> str:
    return f"aftershock-link-{client}-{server}"


def upstream_network(server: str) -> str:
    return f"aftershock-up-{server}"


def upstream_alias(server: str) -> str:
    return f"aftershock-upstream-{server}"


class Override(dict[str, Any]):
    """A mapping that replaces the application's value instead of merging (``!override``)."""


class OverrideList(list[Any]):
    """A sequence that replaces the application's value (``!override``)."""


class Reset(list[Any]):
    """Removes the application's value (``!reset []``)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Override, lambda d, v: d.represent_mapping("!override", dict(v)))
_Dumper.add_representer(OverrideList, lambda d, v: d.represent_sequence("!override", list(v)))
_Dumper.add_representer(Reset, lambda d, v: d.represent_sequence("!reset", []))


@dataclass(frozen=True)
class Plan:
    """What the override must say, decided by the backend from the target and the resolved project."""

    links: tuple[tuple[str, str], ...]  # (client, server)
    published: dict[str, tuple[int, int]]  # service -> (host port on 127.0.0.1, container port)
    labels: dict[str, str]  # the run's labels
    environment: dict[str, dict[str, str]]  # extra environment per service (mode, version)
    images: dict[str, str]  # service -> stable image name, for built services without `image`
    toxiproxy_image: str
    toxiproxy_api: tuple[int, int]  # (host port on 127.0.0.1, port in the container)
    seed: int = 1
    limits: dict[str, tuple[int | None, float | None]] = field(default_factory=dict)  # (bytes, cpus)


def build_override(project: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The override document for ``project`` (the output of ``compose config``)."""
    services: dict[str, Any] = project.get("services") or {}
    servers = {s for _, s in plan.links}
    out_services: dict[str, Any] = {}
    for name, svc in services.items():
        extra: dict[str, Any] = {
            "labels": {**plan.labels, "aftershock.service": name, "aftershock.role": "service"},
            "restart": "no",
        }
        if name in plan.published:
            host, inside = plan.published[name]
            extra["ports"] = OverrideList([f"127.0.0.1:{host}:{inside}"])
        elif svc.get("ports"):
            extra["ports"] = Reset()
        if svc.get("container_name"):
            extra["container_name"] = Reset()
        if name in plan.images:
            extra["image"] = plan.images[name]
        if plan.environment.get(name):
            extra["environment"] = dict(plan.environment[name])
        extra.update(_limits(*plan.limits.get(name, (None, None))))
        own_links = [link_network(c, s) for c, s in plan.links if c == name]
        if name in servers:
            nets: dict[str, Any] = {upstream_network(name): {"aliases": [upstream_alias(name)]}}
        else:
            nets = {key: value for key, value in (svc.get("networks") or {"default": None}).items()}
        nets.update({net: None for net in own_links})
        if name in servers or own_links:
            extra["networks"] = Override(nets)
        out_services[name] = extra
    tp_nets: dict[str, Any] = {link_network(c, s): {"aliases": [s]} for c, s in plan.links}
    tp_nets.update({upstream_network(s): None for s in sorted(servers)})
    host, inside = plan.toxiproxy_api
    out_services[TOXIPROXY_SERVICE] = {
        "image": plan.toxiproxy_image,
        "pull_policy": "never",
        "command": ["-host", "0.0.0.0", "-port", str(inside), "-seed", str(plan.seed)],
        "environment": {"LOG_LEVEL": "warn"},
        "ports": [f"127.0.0.1:{host}:{inside}"],
        "labels": {**plan.labels, "aftershock.role": "toxiproxy"},
        "networks": tp_nets,
    }
    networks: dict[str, Any] = {}
    for key, net in (project.get("networks") or {}).items():
        if not (net or {}).get("external"):
            networks[key] = {"labels": dict(plan.labels)}
    for net in list(tp_nets):
        networks[net] = {"labels": dict(plan.labels)}
    volumes = {
        key: {"labels": dict(plan.labels)}
        for key, vol in (project.get("volumes") or {}).items()
        if not (vol or {}).get("external")
    }
    doc: dict[str, Any] = {"services": out_services, "networks": networks}
    if volumes:
        doc["volumes"] = volumes
    return doc


def _limits(memory: int | None, cpus: float | None) -> dict[str, Any]:
    """A service's container limits, in both of Compose's spellings (see the module docstring)."""
    out: dict[str, Any] = {}
    deploy: dict[str, Any] = {}
    if memory is not None:
        out.update(mem_limit=memory, memswap_limit=memory)
        deploy["memory"] = f"{memory}b"  # the schema wants a string there
    if cpus is not None:
        out["cpus"] = cpus
        deploy["cpus"] = cpus
    if deploy:
        out["deploy"] = {"resources": {"limits": deploy}}
    return out


def dump(doc: dict[str, Any]) -> str:
    header = "# Generated by aftershock for one run; see harness/compose/override.py. Do not edit.\n"
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
