"""The run's Toxiproxy as a service of the Compose project (``aftershock-toxiproxy`` in the override).

It is on every link network under the link's server name and on every server's upstream network
(see :mod:`harness.compose.override`). A link's proxy listens on Toxiproxy's own address *on that
link's network* and the server's port, so the client's unchanged ``db:5432`` lands in it; it dials
``aftershock-upstream-db:5432``, resolved by Docker's DNS at each connection, so a restarted server
is found again. The REST API is published on ``127.0.0.1`` only.

A :class:`~harness.toxiproxy.server.ToxiproxyServer` (same client, proxies, restart, context
manager), so ``LinkProxies`` and the link faults use it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.clock import now_ns
from harness.compose import override as ov
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError
from harness.toxiproxy.proxies import proxy_name
from harness.toxiproxy.server import ToxiproxyServer, describe_exit

if TYPE_CHECKING:
    from docker import DockerClient

    from harness.compose.cli import ComposeCLI
    from harness.scenario.target import Target


class ComposeRun(Protocol):
    """What the Toxiproxy service needs of its run (the Compose backend provides it)."""

    run_id: str
    target: Target
    project: str
    cli: ComposeCLI
    ports: dict[str, int]

    @property
    def client(self) -> DockerClient: ...

    def state(self, service: str) -> dict[str, Any]: ...

    def container_id(self, service: str) -> str | None: ...

    def mark_up(self) -> None: ...


@dataclass(kw_only=True)
class ComposeToxiproxy(ToxiproxyServer):
    """Toxiproxy in the run's Compose project; enter it after the backend."""

    backend: ComposeRun
    _links: dict[str, tuple[str, str]] = field(default_factory=dict, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return int(self.backend.state(ov.TOXIPROXY_SERVICE).get("Pid") or 0) or None

    def start(self) -> None:
        backend = self.backend
        target = backend.target
        self._links = {proxy_name(backend.run_id, link): target.link_ends(link) for link in target.links}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        backend.mark_up()
        backend.cli.run("up", "--detach", "--no-build", "--no-deps", ov.TOXIPROXY_SERVICE)
        self.client = ToxiproxyClient(self.url)

        def died() -> ToxiproxyError | None:
            state = backend.state(ov.TOXIPROXY_SERVICE)
            if state.get("Status") not in ("exited", "dead", "missing"):
                return None
            self._save_logs()
            return ToxiproxyError(
                f"the Toxiproxy service of {backend.project} is {state.get('Status')} "
                f"(code {state.get('ExitCode')}); see {self.log_path}"
            )

        def timed_out() -> ToxiproxyError:
            self._save_logs()
            return ToxiproxyError(
                f"the Toxiproxy service of {backend.project} did not answer on {self.url} within"
                f" {self.start_timeout:g}s; see {self.log_path}"
            )

        self.await_api(died, timed_out)

    def _listen(self, name: str) -> tuple[str, str]:
        """Where proxy ``name`` listens (Toxiproxy's address on its link network) and what its
        client dials (``server:port``)."""
        client, server = self._links[name]
        cid = self.backend.container_id(ov.TOXIPROXY_SERVICE)
        if cid is None:
            raise ToxiproxyError(f"the Toxiproxy service of {self.backend.project} has no container")
        nets = self.backend.client.api.inspect_container(cid)["NetworkSettings"]["Networks"] or {}
        wanted = f"{self.backend.project}_{ov.link_network(client, server)}"
        ip = (nets.get(wanted) or {}).get("IPAddress")
        if not ip:
            raise ToxiproxyError(f"Toxiproxy has no address on {wanted} (networks: {', '.join(nets)})")
        port = self.backend.ports[server]
        return f"{ip}:{port}", f"{server}:{port}"

    def create_proxy(self, name: str, listen: str, upstream: str) -> str:
        """Create the proxy of a link on Toxiproxy's address on the link's network; return what the
        link's client dials (``server:port``, unchanged)."""
        inside, dialled = self._listen(name)
        self.client.create_proxy(name, inside, upstream)
        self._proxies[name] = {"name": name, "listen": inside, "upstream": upstream, "enabled": True}
        return dialled

    def exited(self) -> str | None:
        """None while its container runs; otherwise what became of it (asked by the watchdog)."""
        state = self.backend.state(ov.TOXIPROXY_SERVICE)
        status = state.get("Status")
        if status == "running":
            return None
        if status == "missing":
            return f"its Compose service in {self.backend.project} has no container"
        if status in ("exited", "dead"):
            oom = ", out of memory" if state.get("OOMKilled") else ""
            return f"its container {status}: {describe_exit(int(state.get('ExitCode') or 0))}{oom}"
        return f"its container is {status}"

    def restart(self) -> None:
        """Recreate a wedged Toxiproxy and its proxies (its addresses may have changed)."""
        at = now_ns()
        self.restarts.append((at, self._ended_by_itself() or "it stopped answering its API"))
        self._save_logs()
        self.backend.cli.run(
            "up", "--detach", "--no-build", "--no-deps", "--force-recreate", ov.TOXIPROXY_SERVICE
        )
        self.start()
        for name, proxy in self._proxies.items():
            proxy["listen"] = self._listen(name)[0]
        if self._proxies:
            self.client.populate(list(self._proxies.values()))

    def _save_logs(self) -> None:
        done = self.backend.cli.run("logs", "--no-color", ov.TOXIPROXY_SERVICE, check=False)
        with self.log_path.open("a") as fh:
            fh.write(done.stdout + done.stderr)

    def _kill(self) -> None:
        """Stop and remove the service (its log saved first); ``down`` would remove it anyway."""
        if self.backend.container_id(ov.TOXIPROXY_SERVICE) is None:
            return
        self._save_logs()
        self.backend.cli.run("rm", "--stop", "--force", ov.TOXIPROXY_SERVICE)

    def stop(self) -> None:
        try:
            self._kill()
        finally:
            if hasattr(self, "client"):
                self.client.close()
