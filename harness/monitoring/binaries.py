"""Where the Prometheus and Alertmanager binaries are (Debian's ``prometheus`` and
``prometheus-alertmanager`` packages; ``make monitoring`` installs them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import InfrastructureError

# (environment override, names on PATH): Debian names Alertmanager prometheus-alertmanager
PROMETHEUS = ("AFTERSHOCK_PROMETHEUS", ("prometheus",))
ALERTMANAGER = ("AFTERSHOCK_ALERTMANAGER", ("prometheus-alertmanager", "alertmanager"))
FIX = "install them with `make monitoring` (Debian: apt-get install prometheus prometheus-alertmanager)"


def find(spec: tuple[str, tuple[str, ...]]) -> Path:
    """The binary named by the override variable, else the first of the names on PATH."""
    var, names = spec
    given = os.environ.get(var)
    if given:
        path = Path(given)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise InfrastructureError(f"{var}={given} is not an executable file; fix the variable or {FIX}")
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise InfrastructureError(f"no {' or '.join(names)} on PATH: the scenario's monitoring needs it; {FIX}")


def prometheus() -> Path:
    return find(PROMETHEUS)


def alertmanager() -> Path:
    return find(ALERTMANAGER)
