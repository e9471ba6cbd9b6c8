"""The Docker engine as aftershock uses it: one client with timeouts, names and labels of a run."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from harness.errors import InfrastructureError
from harness.reaper import owner_alive

if TYPE_CHECKING:
    from docker import DockerClient


Emit = Callable[..., Any]

RUN_LABEL = "aftershock.run_id"
OWNER_LABEL = "aftershock.owner"
HOST_LABEL = "aftershock.host"
SERVICE_LABEL = "aftershock.service"
ROLE_LABEL = "aftershock.role"

CONTAINER_PORT = 8000
CONTAINER_HOST = "0.0.0.0"
CONTAINER_PYTHON = "python3"
CONTAINER_TARGET_DIR = "/target"
CONTAINER_WORKDIR = "/aftershock/work"
API_TIMEOUT = 30.0  # seconds for any one engine call that is not a build
STOP_GRACE = 5  # seconds between the stop signal and SIGKILL (whole seconds: the engine API wants an int)
DEFAULT_SOCKET = "/var/run/docker.sock"


# -- the engine ---------------------------------------------------------------------------
def post_json(client: DockerClient, path: str, data: dict[str, Any]) -> None:
    """POST ``data`` to the engine's versioned API at ``path``, for what the SDK does not wrap
    (``NanoCpus`` in ``/containers/<id>/update``), through the SDK's own session (its socket and
    API version). An error answer raises the SDK's ``APIError`` with the engine's message, as the
    SDK's own calls do."""
    from docker.errors import APIError

    api = client.api
    response = api.post(f"{api.base_url}/v{api.api_version}{path}", json=data, timeout=API_TIMEOUT)
    if response.status_code >= 400:
        raise APIError(
            f"{response.status_code} {response.reason}: {response.text.strip()}", response=response
        )


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def engine_hint() -> str:
    return (
        "  fix: start a Docker engine: `scripts/ensure-docker.sh` (as root: installs docker.io if\n"
        "       missing, starts dockerd, waits until `docker info` answers), or `systemctl start docker`,\n"
        "       or point DOCKER_HOST at a running engine; or run with --backend process"
    )


def docker_client(timeout: float = API_TIMEOUT) -> DockerClient:
    """A client of the engine at ``$DOCKER_HOST`` (or the local socket) that answered a ping.

    Raises :class:`InfrastructureError` saying how to start an engine if none answers.
    """
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=round(timeout))  # API version negotiated with the engine
        client.ping()
    except (DockerException, requests.RequestException) as exc:
        raise InfrastructureError(
            f"the docker backend needs a Docker engine, and none answers at {engine_address()}: "
            f"{first_line(exc)}\n{engine_hint()}"
        ) from None
    return client


def engine_surely_absent() -> bool:
    """True when there is no socket to try (so a sweep costs nothing, not even the SDK import)."""
    address = engine_address()
    if address.startswith("unix://"):
        return not os.path.exists(address[len("unix://") :])
    return False


def owner_running(token: str) -> bool:
    """:func:`harness.reaper.owner_alive`, except that a zombie owner is dead.

    A SIGKILLed harness stays a zombie until its parent reaps it, and its ``/proc`` entry keeps
    the start time, so the token still matches; a sweep right after the kill must not wait for that.
    """
    if not owner_alive(token):
        return False
    try:
        stat = Path(f"/proc/{token.partition(':')[0]}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def network_name(run_id: str) -> str:
    return f"aftershock-{run_id}"


def container_name(run_id: str, service: str) -> str:
    return f"aftershock-{run_id}-{service}"


def run_labels(run_id: str, owner: str) -> dict[str, str]:
    return {RUN_LABEL: run_id, OWNER_LABEL: owner, HOST_LABEL: socket.gethostname()}


def build_labels(run_id: str, owner: str) -> dict[str, str]:
    """Labels of an image build: which run built it. Deliberately *not* the sweep's keys: a
    container inherits its image's labels, and one started by hand from a cached image must not
    look like a dead run's leftover."""
    return {f"aftershock.build.{k.rpartition('.')[2]}": v for k, v in run_labels(run_id, owner).items()}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
