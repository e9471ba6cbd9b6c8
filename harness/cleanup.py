"""``aftershock cleanup``: remove what dead runs left behind, say each thing, collect every failure.

The same backstop a run's start applies (processes and scratch directories by :mod:`harness.reaper`,
engine resources by :func:`harness.compose.sweep.sweep_engine`), with a choice of scope and a dry
run. Every part runs even when another failed; each failure becomes one line.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import reaper


def clean_up(
    *, run_id: str | None, include_live: bool, dry_run: bool, say: Callable[[str], None]
) -> list[str]:
    """Remove (or with ``dry_run`` list) the leftovers in scope, saying each; the failures, one line each."""
    errors: list[str] = []
    tally = "to remove (dry run)" if dry_run else "removed"
    try:
        errors += _processes_and_directories(run_id, include_live, dry_run, say, tally)
    except OSError as exc:
        errors.append(f"processes and directories: {exc}")
    removed: list[str] = []
    try:
        from harness.compose.sweep import sweep_engine
        from harness.docker.sweep import ALREADY_GONE

        removed = sweep_engine(run_id=run_id, include_live=include_live, dry_run=dry_run)
    except ExceptionGroup as group:
        errors += [one_line(exc) for exc in group.exceptions]
    except Exception as exc:  # the engine itself failed (listing): one line, not a traceback
        errors.append(f"docker: {one_line(exc)}")
    for item in removed:  # another sweep's removal is said as it is ("...: gone already")
        say(item if item.endswith(ALREADY_GONE) else f"{'would remove' if dry_run else 'removed'} {item}")
    say(f"cleanup: {len(removed)} leftover docker resource(s) {tally}")
    return errors


def _processes_and_directories(
    run_id: str | None, include_live: bool, dry_run: bool, say: Callable[[str], None], tally: str
) -> list[str]:
    victims = reaper.doomed_processes(run_id=run_id, include_live=include_live)
    if not dry_run:
        reaper.kill_processes(victims)
    for p in victims:
        say(f"{'would stop' if dry_run else 'stopped'} pid {p.pid} of run {p.run_id}: {p.cmdline[:100]}")
    say(f"cleanup: {len(victims)} leftover process(es) {tally}")
    dirs = reaper.doomed_workdirs(run_id=run_id, include_live=include_live)
    errors: list[str] = []
    if dry_run:
        gone = [w.path for w in dirs]
    else:
        removal = reaper.remove_workdirs(dirs)
        gone, errors = removal.removed, removal.errors
    for path in gone:
        say(f"{'would remove' if dry_run else 'removed'} directory {path}")
    say(f"cleanup: {len(gone)} leftover director{'y' if len(gone) == 1 else 'ies'} {tally}")
    return errors


def one_line(exc: BaseException) -> str:
    """``<what>: <first line of the error>``, from the note the sweeps attach."""
    notes = [n.removeprefix("while removing ") for n in getattr(exc, "__notes__", [])]
    explanation = getattr(exc, "explanation", None)  # the engine's own words (docker APIError)
    text = str(explanation if isinstance(explanation, str) and explanation else exc).strip().splitlines()
    return f"{notes[0] + ': ' if notes else ''}{text[0] if text else type(exc).__name__}"
