"""Typed model of ``targets/<name>/target.yaml``: services, links, where load goes, the audit.

Commands and environment values are templates. Placeholders:

* ``{python}`` - the interpreter running aftershock
* ``{port}`` / ``{host}`` - where this service must listen
* ``{link:client->server}`` - the Toxiproxy address of a link; only the link's client may use it
* ``{target_dir}``, ``{workdir}`` (a private scratch directory for this service), ``{run_id}``

There is deliberately no placeholder for another service's real address: a client is handed
the proxy, never the server, so that every dependency can be faulted.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.scenario.fields import Seconds
from harness.scenario.models import Model

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}]*))?\}")
SIMPLE_PLACEHOLDERS = ("python", "port", "host", "target_dir", "workdir", "run_id")
LINK_RE = re.compile(r"^([a-z][a-z0-9_-]*)->([a-z][a-z0-9_-]*)$")


class Health(Model):
    """How to tell a service is ready: an HTTP path answering 2xx, or a TCP port accepting."""

    http: str | None = Field(None, pattern=r"^/")
    tcp: bool = False

    @model_validator(mode="after")
    def _one(self) -> Health:
        if bool(self.http) == self.tcp:
            raise ValueError("give exactly one of `http: /path` or `tcp: true`")
        return self


class DockerService(Model):
    """What the Docker backend needs when its conventions do not fit a service (all optional).

    By default a service runs its ``command`` in an image built from the target's
    ``docker/Dockerfile.<service>`` (else ``docker/Dockerfile``); see :mod:`harness.docker.backend`.
    """

    image: str | None = Field(None, description="run this existing local image instead of building one")
    dockerfile: str | None = Field(None, description="Dockerfile path relative to the target directory")
    command: list[str] | None = Field(
        None, min_length=1, description="command in the container, when it must differ from `command`"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment in the container")


class Service(Model):
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    health: Health
    startup_timeout: Seconds = 30.0
    depends_on: list[str] = Field(default_factory=list)
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT"] = Field(
        "SIGTERM", description="signal for a graceful stop (Postgres stops fast on SIGINT)"
    )
    versions: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="named versions: extra environment per version"
    )
    version: str | None = Field(None, description="the version running at start (default: the first listed)")
    docker: DockerService | None = Field(
        None, description="Docker backend settings, if the defaults do not fit"
    )


class AuditSource(Model):
    """An HTTP endpoint returning the audit contract: ``{"effects": [...], "pending": n}``."""

    service: str
    path: str = Field(pattern=r"^/")


class ConsistencyContract(Model):
    """How the ledger maps onto the audit, for the lost/duplicated/corrupted/stuck verdicts.

    Each effect in an audit is ``{"kind", "key", "value", "status", "id"}``: ``key`` is the
    idempotency key of the request that caused it, ``value`` what the request asked for.
    """

    write_ops: list[str] = Field(min_length=1, description="ledger ops whose effect the audit must show")
    primary: str = Field(description="effect kind each acknowledged write must leave exactly once")
    final_status: str | None = Field(
        None, description="primary effects not in this status after the drain are stuck"
    )


class Target(Model):
    name: str
    description: str = ""
    services: dict[str, Service] = Field(min_length=1)
    links: list[str] = Field(default_factory=list)
    entrypoint: str = Field(description="the service the load generator talks to (HTTP)")
    audit: list[AuditSource] = Field(default_factory=list, description="where the final state is read")
    consistency: ConsistencyContract | None = None
    modes: dict[str, dict[str, dict[str, str]]] = Field(
        default_factory=dict, description="named variants: environment per service (e.g. fragile)"
    )
    locustfile: str = "locustfile.py"
    kind: Literal["http"] = "http"

    @model_validator(mode="before")
    @classmethod
    def _audit_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("audit"), str):
            data = {**data, "audit": [{"service": data.get("entrypoint"), "path": data["audit"]}]}
        return data

    def link_ends(self, link: str) -> tuple[str, str]:
        m = LINK_RE.match(link)
        if not m:
            raise ValueError(f"{link!r} is not of the form 'client->server'")
        return m.group(1), m.group(2)

    def start_order(self) -> list[str]:
        """Services ordered so that each starts after what it depends on (and what it links to)."""
        needs: dict[str, set[str]] = {name: set(svc.depends_on) for name, svc in self.services.items()}
        for link in self.links:
            client, server = self.link_ends(link)
            needs[client].add(server)
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(needs):
            ready = sorted(n for n, deps in needs.items() if n not in done and deps <= done)
            if not ready:
                raise ValueError(
                    "services depend on each other in a cycle: " + ", ".join(sorted(set(needs) - done))
                )
            order.extend(ready)
            done.update(ready)
        return order
