"""Find or build the Compose implementation aftershock drives: Docker Compose v2 (2.29.7).

Order: ``$AFTERSHOCK_COMPOSE``, the project cache, a ``docker-compose`` v2 on PATH, else build it
from its Go module (``github.com/docker/compose/v2``, through the Go module proxy) into
``~/.cache/aftershock/bin``, as Toxiproxy is. Why v2 and not Debian's ``docker-compose`` 1.29:
aftershock's override file must *replace* a service's networks and published ports
(``!override`` / ``!reset``, Compose >= 2.24.4); 1.29 can only merge, so the real server could not
be taken off its network and parallel runs would fight over the application's fixed host ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import InfrastructureError
from harness.files import cache_dir
from harness.gobuild import GoTool, go_install

COMPOSE_VERSION = "2.29.7"
_MODULE = "github.com/docker/compose/v2"


def cached_binary() -> Path:
    return cache_dir() / "bin" / f"docker-compose-{COMPOSE_VERSION}"


def _is_v2(path: str) -> bool:
    try:
        out = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    major, _, rest = out.stdout.strip().lstrip("v").partition(".")
    minor = rest.partition(".")[0]
    return out.returncode == 0 and major.isdigit() and (int(major), int(minor or 0)) >= (2, 25)


def find_compose(*, build: bool = True, quiet: bool = False) -> Path:
    """The path of a runnable Compose v2 binary, building it if needed and allowed."""
    explicit = os.environ.get("AFTERSHOCK_COMPOSE")
    if explicit:
        if not _is_v2(explicit):
            raise InfrastructureError(
                f"AFTERSHOCK_COMPOSE={explicit} is not a Docker Compose >= 2.25 binary; "
                "point it at one or unset it"
            )
        return Path(explicit)
    cached = cached_binary()
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which("docker-compose")
    if on_path and _is_v2(on_path):
        return Path(on_path)
    if not build:
        raise InfrastructureError(
            f"Docker Compose v2 not found (looked at $AFTERSHOCK_COMPOSE, {cached}, docker-compose on PATH)\n"
            "  fix: `make compose` builds it with Go (once, cached)"
        )
    return build_compose(quiet=quiet)


def build_compose(*, quiet: bool = False) -> Path:
    tool = GoTool(
        name=f"Docker Compose {COMPOSE_VERSION}",
        package=f"{_MODULE}/cmd",
        version=f"v{COMPOSE_VERSION}",
        ldflags=f"-s -w -X {_MODULE}/internal.Version=v{COMPOSE_VERSION}",
        built="cmd",
        timeout=3600,
        no_go_fix="or set AFTERSHOCK_COMPOSE=/path/to/docker-compose (v2 >= 2.25)",
    )
    return go_install(tool, cached_binary(), quiet=quiet, note="once, several minutes")


if __name__ == "__main__":
    print(find_compose())
