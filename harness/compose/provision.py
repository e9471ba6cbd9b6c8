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
import sys
import tempfile
from pathlib import Path

from harness.errors import InfrastructureError
from harness.files import cache_dir

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
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None
    )
    target = cached_binary()
    if go is None:
        raise InfrastructureError(
            "Docker Compose v2 is needed and cannot be built: no `go` toolchain was found.\n"
            f"  fix: install Go >= 1.22 and rerun (aftershock builds Compose {COMPOSE_VERSION} into"
            f" {target}), or set AFTERSHOCK_COMPOSE=/path/to/docker-compose (v2 >= 2.25)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(
            f"aftershock: building Docker Compose {COMPOSE_VERSION} with go (once, several minutes;"
            f" cached in {target.parent})",
            file=sys.stderr,
            flush=True,
        )
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [
            go,
            "install",
            "-ldflags",
            f"-s -w -X {_MODULE}/internal.Version=v{COMPOSE_VERSION}",
            f"{_MODULE}/cmd@v{COMPOSE_VERSION}",
        ]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            raise InfrastructureError("building Docker Compose with go took over an hour") from None
        if proc.returncode != 0:
            raise InfrastructureError(
                f"building Docker Compose failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}"
            )
        os.replace(Path(gobin) / "cmd", target)  # atomic: a half-built binary is never at the cached path
    return target


if __name__ == "__main__":
    print(find_compose())
