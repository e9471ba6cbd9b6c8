"""Build a Go tool from its module with ``go install`` into aftershock's cache (Toxiproxy, Compose).

Built once, into a temporary directory beside the cache, then renamed into place: a half-built
binary is never at the cached path, and two builds at once never see each other's files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError


@dataclass(frozen=True)
class GoTool:
    """What to build: ``go install -ldflags LDFLAGS PACKAGE@VERSION``, whose binary is ``built``."""

    name: str  # as users know it, for messages ("Toxiproxy 2.12.0")
    package: str  # module path of the main package
    version: str  # the module version, with its leading v
    ldflags: str
    built: str  # the binary's name in GOBIN (the main package's last path element)
    timeout: float  # seconds before the build counts as stuck
    no_go_fix: str  # what else the user can do without Go


def find_go() -> str | None:
    """``go`` on PATH, or where the official tarball puts it."""
    return shutil.which("go") or (
        "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None
    )


def go_install(tool: GoTool, target: Path, *, quiet: bool = False, note: str = "once") -> Path:
    """Build ``tool`` into ``target`` (static, CGO off) and return it."""
    go = find_go()
    if go is None:
        raise InfrastructureError(
            f"{tool.name} is needed and cannot be built: no `go` toolchain was found.\n"
            f"  fix: install Go >= 1.22 and rerun (aftershock builds it into {target}), {tool.no_go_fix}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(
            f"aftershock: building {tool.name} with go ({note}; cached in {target.parent})",
            file=sys.stderr,
            flush=True,
        )
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [go, "install", "-ldflags", tool.ldflags, f"{tool.package}@{tool.version}"]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=tool.timeout)
        except subprocess.TimeoutExpired:
            raise InfrastructureError(
                f"building {tool.name} with go took over {tool.timeout / 60:g} minutes; "
                "check the module proxy"
            ) from None
        if proc.returncode != 0:
            raise InfrastructureError(
                f"building {tool.name} failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}"
            )
        os.replace(Path(gobin) / tool.built, target)  # atomic: never a half-built binary at target
    return target
