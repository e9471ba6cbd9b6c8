"""Where a target named in a scenario (or in ``@pytest.mark.aftershock_target``) lives.

One rule for the loader and the pytest plugin: a name with a ``/`` or starting with ``.`` is a
directory relative to ``base`` (the scenario's directory; the working directory for pytest);
any other name is looked up as ``<root>/<name>/target.yaml`` in the given roots, then
``./targets`` and every directory of ``AFTERSHOCK_TARGETS``. When nothing is found, the answer
says why: a directory without target.yaml is not "no target of that name".
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TARGET_FILE = "target.yaml"


@dataclass(frozen=True)
class TargetLookup:
    """The target's directory, or why there is none (``problem`` and ``fix``)."""

    directory: Path | None
    problem: str = ""
    fix: str = ""


def is_file(path: Path) -> bool:
    """Like ``Path.is_file``, but a name the OS refuses (too long, a NUL) is simply not a file."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def is_path(name: str) -> bool:
    return "/" in name or name.startswith(".")


def search_roots(extra: Sequence[Path] = ()) -> list[Path]:
    """Directories holding ``<name>/target.yaml``, in the order they are searched."""
    roots = [*extra, Path.cwd() / "targets"]
    roots += [Path(p) for p in os.environ.get("AFTERSHOCK_TARGETS", "").split(os.pathsep) if p]
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def find_target(name: str, base: Path, roots: Sequence[Path] = ()) -> TargetLookup:
    """Resolve ``name``; see the module docstring for the rule."""
    if is_path(name):
        directory = Path(os.path.abspath(base / name))  # no syscalls: the name may be hostile
        if is_file(directory / TARGET_FILE):
            return TargetLookup(directory.resolve())
        if is_dir(directory):
            return TargetLookup(
                None,
                f"the directory {directory} has no {TARGET_FILE}",
                f"add {directory / TARGET_FILE}, or point at the directory that has one",
            )
        return TargetLookup(
            None, f"no such directory: {directory}", "check the path (relative to the scenario)"
        )
    looked = search_roots(roots)
    for root in looked:
        if is_file(root / name / TARGET_FILE):
            return TargetLookup((root / name).resolve())
    available = available_targets(looked)
    close = difflib.get_close_matches(name, available, n=1)
    beside = is_file(Path(os.path.abspath(base / name)) / TARGET_FILE)  # a directory, named as a name
    return TargetLookup(
        None,
        f"no target of that name (looked for <dir>/{name}/{TARGET_FILE} in {', '.join(map(str, looked))})",
        (
            f"for the directory {name!r} next to the scenario, write it as a path: './{name}'. "
            if beside
            else ""
        )
        + (f"did you mean {close[0]!r}? " if close else "")
        + f"available: {', '.join(available) or 'none found'}",
    )


def available_targets(roots: Sequence[Path]) -> list[str]:
    names = {p.parent.name for root in roots if is_dir(root) for p in root.glob(f"*/{TARGET_FILE}")}
    return sorted(names)
