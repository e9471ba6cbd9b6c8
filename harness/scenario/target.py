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

from harness.errors import Problem
from harness.scenario.base import Model
from harness.scenario.fields import Seconds
from harness.scenario.limits import Limits

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}]*))?\}")
SIMPLE_PLACEHOLDERS = ("python", "port", "host", "target_dir", "workdir", "run_id")
LINK_RE = re.compile(r"^([a-z][a-z0-9_-]*)->([a-z][a-z0-9_-]*)$")


HEALTH_KINDS = (
    "http: /path",
    "tcp: true",
    "process: true",
    "log: 'regex'",
    "command: [argv...]",
)


class Health(Model):
    """How to tell a service is ready. Exactly one kind:

    * ``http: /path`` - the path answers 2xx; ``tcp: true`` - the service's port accepts;
    * ``process: true`` - it stays alive for ``alive_for`` (a worker that serves nothing);
    * ``log: regex`` - a line of its output since this start matches (a worker saying "ready");
    * ``command: [...]`` - the command exits 0 (run on the host for processes, inside the
      container on Docker and Compose).

    Probing is done by :mod:`harness.targets.health`, the same for every backend.
    """

    http: str | None = Field(None, pattern=r"^/")
    tcp: bool = False
    process: bool = False
    alive_for: Seconds = Field(1.0, description="with `process: true`: alive this long counts as ready")
    log: str | None = Field(None, min_length=1, description="regex matched against each output line")
    command: list[str] | None = Field(None, min_length=1, description="ready when it exits 0")

    @model_validator(mode="after")
    def _one(self) -> Health:
        given = [bool(self.http), self.tcp, self.process, self.log is not None, self.command is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one health kind: " + ", ".join(HEALTH_KINDS))
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as exc:
                raise ValueError(f"log: {self.log!r} is not a regular expression: {exc}") from None
        return self

    @property
    def kind(self) -> str:
        for kind in ("http", "tcp", "process", "log", "command"):
            if getattr(self, kind):
                return kind
        raise AssertionError("validated: exactly one kind")


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
    command: list[str] | None = Field(
        None, min_length=1, description="how to start it (process and docker backends; not for compose)"
    )
    env: dict[str, str] = Field(default_factory=dict)
    health: Health | None = Field(
        None, description="readiness check; required unless the target is a Compose file"
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="compose: the port it serves in its container, if not declared there",
    )
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
    limits: Limits | None = Field(
        None, description="container limits, e.g. {memory: 256Mi, cpus: 0.5} (docker and compose backends)"
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


def audit_shorthand(data: Any) -> Any:
    """``audit: /audit`` is the entrypoint's: ``[{service: <entrypoint>, path: /audit}]``."""
    if isinstance(data, dict) and isinstance(data.get("audit"), str):
        data = {**data, "audit": [{"service": data.get("entrypoint"), "path": data["audit"]}]}
    return data


class Target(Model):
    name: str
    description: str = ""
    services: dict[str, Service] = Field(
        default_factory=dict, description="a Compose target lists only what needs settings beyond Compose"
    )
    links: list[str] = Field(default_factory=list)
    entrypoint: str = Field(description="the service the load generator talks to (HTTP)")
    audit: list[AuditSource] = Field(default_factory=list, description="where the final state is read")
    consistency: ConsistencyContract | None = None
    modes: dict[str, dict[str, dict[str, str]]] = Field(
        default_factory=dict, description="named variants: environment per service (e.g. fragile)"
    )
    locustfile: str = "locustfile.py"
    kind: Literal["http"] = "http"
    compose: str | None = Field(
        None, description="a Compose file (relative to the target) for the compose backend"
    )

    @model_validator(mode="before")
    @classmethod
    def _audit_shorthand(cls, data: Any) -> Any:
        return audit_shorthand(data)

    @model_validator(mode="after")
    def _startable(self) -> Target:
        """Without a Compose file, aftershock starts each service itself and must know when it is up."""
        if self.compose is not None:
            return self
        if not self.services:
            raise ValueError("a target needs `services:` (or `compose: compose.yaml`)")
        for name, svc in self.services.items():
            if svc.command is None:
                raise ValueError(f"services.{name}: needs `command: [...]` (or the target a `compose:` file)")
            if svc.health is None:
                raise ValueError(f"services.{name}: needs `health:`, one of: " + ", ".join(HEALTH_KINDS))
        return self

    def link_ends(self, link: str) -> tuple[str, str]:
        m = LINK_RE.match(link)
        if not m:
            raise ValueError(f"{link!r} is not of the form 'client->server'")
        return m.group(1), m.group(2)

    def needs(self) -> dict[str, set[str]]:
        """What each service must find healthy before it starts: its ``depends_on`` and the
        servers of its links. Services that need nothing of each other may start together."""
        needs: dict[str, set[str]] = {name: set(svc.depends_on) for name, svc in self.services.items()}
        for link in self.links:
            client, server = self.link_ends(link)
            needs[client].add(server)
        return needs

    def start_order(self) -> list[str]:
        """Services ordered so that each starts after what it depends on (and what it links to)."""
        needs = self.needs()
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


def needs_command_and_health(file: str, name: str, spec: Service, backend: str) -> list[Problem]:
    """The process and docker backends start a service by its ``command`` and probe its ``health``;
    a Compose target may leave both out (Compose starts it; its healthcheck, or running, is health)."""
    problems: list[Problem] = []
    if spec.command is None:
        problems.append(
            Problem(
                file,
                f"services.{name}.command",
                f"the {backend} backend needs a command to start the service",
                fix="add `command: [...]`, or use `--backend compose` if the target has a Compose file",
            )
        )
    if spec.health is None:
        problems.append(
            Problem(
                file,
                f"services.{name}.health",
                f"the {backend} backend needs to know when the service is ready",
                fix="add `health:` with one of: " + ", ".join(HEALTH_KINDS),
            )
        )
    return problems
