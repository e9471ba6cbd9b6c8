"""Find or build the Toxiproxy server binary (2.12.0).

Order: ``$AFTERSHOCK_TOXIPROXY``, ``toxiproxy-server`` on PATH, the project cache, else build it
with ``go install`` into the cache. Without Go and without a binary, stop with an error that
says exactly what to install.
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

TOXIPROXY_VERSION = "2.12.0"
_MODULE = "github.com/Shopify/toxiproxy/v2"


def cached_binary() -> Path:
    return cache_dir() / "bin" / f"toxiproxy-server-{TOXIPROXY_VERSION}"


def find_toxiproxy(*, build: bool = True, quiet: bool = False) -> Path:
    """The path of a runnable toxiproxy-server, building it if needed and allowed."""
    explicit = os.environ.get("AFTERSHOCK_TOXIPROXY")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise InfrastructureError(
                f"AFTERSHOCK_TOXIPROXY={explicit} is not an executable file; "
                "point it at a toxiproxy-server binary or unset it"
            )
        return path
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return Path(on_path)
    cached = cached_binary()
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    if not build:
        raise InfrastructureError(
            f"toxiproxy-server not found (looked at $AFTERSHOCK_TOXIPROXY, PATH, {cached})"
        )
    return build_toxiproxy(quiet=quiet)


def build_toxiproxy(*, quiet: bool = False) -> Path:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None
    )
    target = cached_binary()
    if go is None:
        raise InfrastructureError(
            "Toxiproxy is needed and cannot be built: no `go` toolchain was found.\n"
            "  Install one of:\n"
            f"    - Go >= 1.22, then rerun (aftershock builds Toxiproxy {TOXIPROXY_VERSION} into {target})\n"
            "    - a toxiproxy-server binary on PATH, or set AFTERSHOCK_TOXIPROXY=/path/to/toxiproxy-server"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(
            f"aftershock: building Toxiproxy {TOXIPROXY_VERSION} with go (once; cached in {target.parent})",
            file=sys.stderr,
            flush=True,
        )
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [
            go,
            "install",
            "-ldflags",
            f"-X {_MODULE}.Version={TOXIPROXY_VERSION}",
            f"{_MODULE}/cmd/server@v{TOXIPROXY_VERSION}",
        ]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise InfrastructureError(
                "building Toxiproxy with go took over 15 minutes; check the module proxy"
            ) from None
        if proc.returncode != 0:
            raise InfrastructureError(f"building Toxiproxy failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
        built = Path(gobin) / "server"
        os.replace(built, target)  # atomic: a half-built binary is never at the cached path
    return target


if __name__ == "__main__":
    print(find_toxiproxy())
