"""Shared test helpers: run the CLI as a user would, find run directories, check for leftovers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """Pin the cache and the Toxiproxy binary for everything the suite starts.

    ``pytester`` gives each test a temporary HOME; without this, aftershock inside it found no
    cached Toxiproxy and rebuilt it from source (~90 s of Go on every CI run). ``make test``
    builds the binary once before the suite (``make toxiproxy``).
    """
    from harness.errors import InfrastructureError
    from harness.files import cache_dir
    from harness.toxiproxy.provision import find_toxiproxy

    os.environ.setdefault("AFTERSHOCK_CACHE", str(cache_dir()))
    # not built yet: the first rehearsal builds it, into the real cache
    with contextlib.suppress(InfrastructureError):
        os.environ.setdefault("AFTERSHOCK_TOXIPROXY", str(find_toxiproxy(build=False)))


def aftershock(
    *args: str,
    cwd: Path = REPO,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the `aftershock` CLI in a subprocess, exactly as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def latest_run(out: Path) -> Path:
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert runs, f"no run directory under {out}"
    return runs[-1]


def results_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def leftovers(run_id: str) -> list[str]:
    """Processes still carrying the run's label (there must be none after a run)."""
    from harness.reaper import labelled_processes

    return [f"{p.pid} {p.cmdline}" for p in labelled_processes() if p.run_id == run_id]


def processes_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment has ``name=value``: everything a marked CLI call started."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="session")
def toxiproxy_binary() -> Path:
    from harness.toxiproxy.provision import find_toxiproxy

    return find_toxiproxy()
