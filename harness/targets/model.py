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
from typing import Literal

from pydantic import Field, model_validator

from harness.scenario.models import Model, Seconds

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


class Target(Model):
    name: str
    description: str = ""
    services: dict[str, Service] = Field(min_length=1)
    links: list[str] = Field(default_factory=list)
    entrypoint: str = Field(description="the service the load generator talks to (HTTP)")
    audit: str | None = Field(
        None, pattern=r"^/", description="HTTP path on the entrypoint returning final state"
    )
    locustfile: str = "locustfile.py"
    kind: Literal["http"] = "http"

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
