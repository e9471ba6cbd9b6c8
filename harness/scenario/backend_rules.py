"""Rules only a backend knows, filled in by that backend's package.

The scenario layer sits upstream of the backends (scenario -> targets -> load -> measure ->
report) and imports nothing from ``harness.docker`` or ``harness.compose``. Yet a Docker scenario
is valid only if its Dockerfiles are there, and a Compose-only target's services come from
``compose config``, and Compose services sharing a network may reach each other outside every
link (worth a warning). So this module names the hooks and each backend registers what it
knows (:mod:`harness.backends` wires the backends this harness ships, on ``import harness``).
A backend nobody registered is an error, never a check silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError, Problem
from harness.scenario.target import Target

#: What keeps a target from running on the backend, from its files alone (no engine).
TargetProblems = Callable[[Target, Path], list[Problem]]
#: A target completed from the backend's own description of it (a Compose file's services).
TargetCompletion = Callable[[Target, Path], Target]
#: What is worth knowing about the target on this backend, though not wrong.
TargetWarnings = Callable[[Target, Path], tuple[str, ...]]


@dataclass(frozen=True)
class BackendRules:
    """One backend's hooks; any may be absent."""

    problems: TargetProblems | None = None
    complete: TargetCompletion | None = None
    warnings: TargetWarnings | None = None


_REGISTERED: dict[str, BackendRules] = {}


def register(backend: str, rules: BackendRules) -> None:
    """Make ``rules`` the ones of ``backend`` (a later registration replaces an earlier one)."""
    _REGISTERED[backend] = rules


def rules_for(backend: str) -> BackendRules:
    """The rules ``backend`` registered; raises if no package registered any."""
    try:
        return _REGISTERED[backend]
    except KeyError:
        raise InfrastructureError(
            f"no rules registered for the {backend!r} backend (registered: "
            f"{', '.join(sorted(_REGISTERED)) or 'none'}); import harness.backends to wire them"
        ) from None
