"""aftershock: rehearse failures against a real system and measure how it recovers.

The public facade. Importing it is cheap: no Locust, gevent or Docker SDK is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The shipped backends' scenario rules (Dockerfiles, a Compose file's services): wired here, so
# every entry point validates alike and the scenario layer imports no backend.
import harness.backends  # noqa: F401  (registers; nothing to name)
from harness.errors import (
    AftershockError,
    ExitCode,
    ExpectationMissed,
    InfrastructureError,
    Interrupted,
    ScenarioError,
)
from harness.scenario.loader import LoadedScenario, load_scenario

__all__ = [
    "AftershockError",
    "ExitCode",
    "ExpectationMissed",
    "InfrastructureError",
    "Interrupted",
    "LoadedScenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
]
