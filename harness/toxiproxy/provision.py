"""Find or build the Toxiproxy server binary (2.12.0).

Order: ``$AFTERSHOCK_TOXIPROXY``, ``toxiproxy-server`` on PATH, the project cache, else build it
with ``go install`` into the cache. Without Go and without a binary, stop with an error that
says exactly what to install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import InfrastructureError
from harness.files import cache_dir
from harness.gobuild import GoTool, go_install

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
    tool = GoTool(
        name=f"Toxiproxy {TOXIPROXY_VERSION}",
        package=f"{_MODULE}/cmd/server",
        version=f"v{TOXIPROXY_VERSION}",
        ldflags=f"-X {_MODULE}.Version={TOXIPROXY_VERSION}",
        built="server",
        timeout=900,
        no_go_fix=(
            "or put a toxiproxy-server binary on PATH, or set AFTERSHOCK_TOXIPROXY=/path/to/toxiproxy-server"
        ),
    )
    return go_install(tool, cached_binary(), quiet=quiet)


if __name__ == "__main__":
    print(find_toxiproxy())
