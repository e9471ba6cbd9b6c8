"""The ``aftershock`` command.

Exit codes: 0 all expectations met, 1 an expectation missed, 2 usage or scenario error,
3 harness or infrastructure error, 4 aborted (an ``abort:`` bound was crossed), 130 interrupted.
click was chosen over typer: one small, stable dependency, and its usage errors already exit with 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness import __version__
from harness.errors import ExitCode, ScenarioError
from harness.signals import exits_on_interrupt

if TYPE_CHECKING:
    from harness.results import Results
    from harness.run import RunOutcome


def _echo(text: str = "", err: bool = False) -> None:
    """Print, unless nobody is listening any more (the terminal or CI runner is gone): then send
    the rest to /dev/null, so the exit code still tells the verdict."""
    stream = sys.stderr if err else sys.stdout
    try:
        click.echo(text, err=err)
    except OSError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _fail(message: str, code: ExitCode) -> None:
    click.echo(message, err=True)
    sys.exit(int(code))


class _Aftershock(click.Group):
    """The command group: an exception no command expected is a harness failure (exit 3, with
    its traceback), never the 1 of a missed expectation that Python's default exit would give."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: usage errors (2), --help, --version
        except Exception:
            import traceback

            traceback.print_exc()
            _fail(
                "aftershock: internal error (a defect of aftershock, not a verdict about the target;"
                " the traceback above says where): exit 3",
                ExitCode.INFRASTRUCTURE,
            )
            raise AssertionError("unreachable") from None


@click.group(cls=_Aftershock, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aftershock")
def main() -> None:
    """Rehearse failures before go-live: real faults, real load, measured recovery.

    \b
    Examples:
      aftershock list
      aftershock validate scenarios/db-latency.yaml
      aftershock run scenarios/db-latency.yaml
      aftershock cleanup
    """


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--backend", type=click.Choice(["process", "docker", "compose"]), help="Override the scenario's backend."
)
@click.option("--trials", type=click.IntRange(1, 100), help="Override the number of trials.")
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--mode", help="Run the target in one of its modes (e.g. fragile; see `aftershock list`).")
@click.option(
    "--load-workers", type=click.IntRange(1, 64), help="Locust worker processes (distributed mode)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Directory that receives reports/<run-id>/.",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@exits_on_interrupt
def run(
    scenarios: tuple[Path, ...],
    backend: str | None,
    trials: int | None,
    seed: int | None,
    mode: str | None,
    load_workers: int | None,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Run one or more scenarios; exit 0 only if every expectation is met."""
    from harness.run import Orchestrator, RunOptions
    from harness.scenario.loader import load_scenario

    loaded = []
    problems: list[str] = []
    for path in scenarios:  # validate everything before starting anything
        try:
            item = load_scenario(path, backend=backend)
        except ScenarioError as exc:
            problems.append(str(exc))
            continue
        for warning in item.warnings:
            click.echo(f"warning: {path}: {warning}", err=True)
        if mode is not None and mode not in item.target.modes:
            problems.append(
                f"--mode: target {item.target.name!r} has no mode {mode!r} "
                f"(modes: {', '.join(item.target.modes) or 'none'})"
            )
        loaded.append(item)
    if problems:
        _fail("aftershock: invalid scenario, nothing was started:\n" + "\n".join(problems), ExitCode.USAGE)
    worst = ExitCode.OK
    for item in loaded:
        outcome = Orchestrator(
            item, RunOptions(out_dir, backend, trials, seed, mode, load_workers), progress=not quiet
        ).run()
        _print_outcome(item.path, outcome)
        if outcome.exit_code == ExitCode.INTERRUPTED:
            sys.exit(int(ExitCode.INTERRUPTED))
        worst = max(worst, outcome.exit_code, key=_severity)
    from harness.report.index import refresh_index

    problem = refresh_index(out_dir)  # the runs' own reports stand; the index is a convenience
    if problem:
        _echo(f"aftershock: {problem}", err=True)
    sys.exit(int(worst))


def _print_outcome(path: Path, outcome: RunOutcome) -> None:
    """A run's end on the console: the scenario as run, the verdicts, where the reports are."""
    from harness.report.console import verdict_table
    from harness.report.headline import as_run_words, headline
    from harness.report.lead import lead

    _echo("")
    _echo(lead(outcome.results))
    _echo(f"scenario {outcome.results.scenario}  (run {outcome.run_id})")
    _echo(f"as run: {as_run_words(outcome.results)}")
    _echo(verdict_table(outcome.results))
    if outcome.error is not None:
        _echo(f"\n{error_line(outcome.error, outcome.results.error)}", err=True)
    _echo(f"\n{headline(outcome.results)}")
    _echo(f"results: {outcome.run_dir / 'results.json'}")
    _echo(f"report:  {outcome.run_dir / 'report.html'}")
    if outcome.exit_code != ExitCode.OK:
        _echo(f"repeat:  {repeat_command(path, outcome.results)}")


def error_line(error: BaseException, recorded: str | None) -> str:
    """``Interrupted: interrupted by SIGINT``: the error's own words when the results recorded none
    (an interrupt is not an error of the results, and ``Interrupted: None`` says nothing)."""
    text = recorded or str(error) or "no detail recorded"
    return f"{type(error).__name__}: {text}"


def repeat_command(path: Path, results: Results) -> str:
    """The one line that repeats a run as it ran: seed, mode, trials, backend, load workers."""
    words = [f"aftershock run {path} --seed {results.seed}"]
    run = results.as_run
    if run is not None:
        words += [f"--{k.replace('_', '-')} {v}" for k, v in run.overrides.items() if k != "seed"]
    return " ".join(words)


def _severity(code: ExitCode) -> int:
    return {
        ExitCode.OK: 0,
        ExitCode.EXPECTATION_MISSED: 1,
        ExitCode.UNHEALTHY_BEFORE_FAULT: 2,
        ExitCode.ABORTED: 3,
        ExitCode.INFRASTRUCTURE: 4,
        ExitCode.USAGE: 5,
        ExitCode.INTERRUPTED: 6,
    }[code]


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(["process", "docker", "compose"]),
    help="Check for this backend (as `run --backend` would run it).",
)
def validate(scenarios: tuple[Path, ...], backend: str | None) -> None:
    """Check scenarios and their targets without starting anything."""
    from harness.scenario.loader import load_scenario

    bad = 0
    for path in scenarios:
        try:
            item = load_scenario(path, backend=backend)
            click.echo(f"ok  {path}  (target {item.target.name}, {len(item.scenario.faults)} fault(s))")
            for warning in item.warnings:
                click.echo(f"  warning: {warning}", err=True)
        except ScenarioError as exc:
            bad += 1
            click.echo(f"invalid  {path}\n{exc}", err=True)
    sys.exit(int(ExitCode.USAGE if bad else ExitCode.OK))


@main.command(name="list")
@click.option("--dir", "root", type=click.Path(path_type=Path), default=Path("."), show_default=True)
def list_(root: Path) -> None:
    """List the scenarios and targets found under a directory."""
    from harness.scenario.loader import load_scenario, load_target

    click.echo("scenarios:")
    for path in sorted((root / "scenarios").glob("*.yaml")):
        try:
            item = load_scenario(path)
            click.echo(f"  {path}  - {_first_line(item.scenario.description)}")
        except ScenarioError:
            click.echo(f"  {path}  - INVALID (run `aftershock validate {path}`)")
    click.echo("targets:")
    for tdir in sorted(p.parent for p in (root / "targets").glob("*/target.yaml")):
        try:
            t = load_target(tdir)
            modes = f"; modes: {', '.join(t.modes)}" if t.modes else ""
            click.echo(f"  {t.name}  - {t.description}  (links: {', '.join(t.links) or 'none'}{modes})")
        except ScenarioError:
            click.echo(f"  {tdir.name}  - INVALID target.yaml")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def report(run_dir: Path) -> None:
    """Regenerate the reports of a run from its journal and ledger (no re-run)."""
    from harness.analysis import analyse_run
    from harness.report import write_reports
    from harness.report.console import verdict_table
    from harness.results import write_results

    try:
        results, analyses = analyse_run(run_dir)
    except ScenarioError as exc:
        _fail(f"aftershock: {run_dir} is not a readable run directory:\n{exc}", ExitCode.USAGE)
    write_results(run_dir / "results.json", results)
    try:
        paths = write_reports(run_dir, results, analyses)
    except ExceptionGroup as exc:
        _fail(
            f"aftershock: {exc}\n" + "\n".join(f"  {type(e).__name__}: {e}" for e in exc.exceptions),
            ExitCode.INFRASTRUCTURE,
        )
    from harness.report.lead import lead

    click.echo(lead(results))
    click.echo(verdict_table(results))
    click.echo("")
    for path in [run_dir / "results.json", *paths]:
        click.echo(f"{path.name}: {path}")
    if results.error:  # as `run` does: a harness error (e.g. an audit not understood) is exit 3
        _echo(f"aftershock: {results.error}", err=True)
    sys.exit(int(results.exit_code()))


@main.command()
@click.argument("reports_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("reports"))
def index(reports_dir: Path) -> None:
    """Write REPORTS_DIR/index.html: MTTR per scenario across runs, over time."""
    from harness.report.index import write_index

    click.echo(f"index: {write_index(reports_dir)}")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--budget", type=click.IntRange(1, 1000), help="Examples to try (default: the scenario's explore.budget)."
)
@click.option("--time", "time_limit", help="Search time from the first rehearsal (not setup), e.g. 10m.")
@click.option("--seed", type=int, help="Seed of the search (default: the scenario's seed).")
@click.option("--mode", help="Explore the target in one of its modes (e.g. fragile).")
@click.option("--derandomize", is_flag=True, help="Deterministic search (for CI), ignores --seed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
@exits_on_interrupt
def explore(
    scenario: Path,
    budget: int | None,
    time_limit: str | None,
    seed: int | None,
    mode: str | None,
    derandomize: bool,
    out_dir: Path,
) -> None:
    """Search for the smallest fault schedule that breaks an expectation (hypothesis).

    Each example is a real rehearsal on a fresh target. A failing schedule is shrunk (fewer
    faults, earlier, shorter, smaller) and written out as a scenario `aftershock run` repeats.
    """
    from harness.errors import AftershockError
    from harness.explore.search import explore as run_explore
    from harness.explore.strategy import describe
    from harness.scenario.durations import parse_duration
    from harness.scenario.loader import load_scenario

    try:
        loaded = load_scenario(scenario)
        limit = None if time_limit is None else parse_duration(time_limit)
        if mode is not None and mode not in loaded.target.modes:
            _fail(f"--mode: target {loaded.target.name!r} has no mode {mode!r}", ExitCode.USAGE)
        outcome = run_explore(
            loaded,
            out_dir=out_dir,
            budget=budget,
            time_limit=limit,
            seed=seed,
            mode=mode,
            derandomize=derandomize,
            say=lambda text: click.echo(text, err=True),
        )
    except ValueError as exc:
        _fail(f"aftershock: --time: {exc}", ExitCode.USAGE)
    except AftershockError as exc:
        _fail(f"aftershock: {exc}", exc.exit_code)
    click.echo(f"\n{len(outcome.examples)} rehearsal(s) in {outcome.directory}")
    if outcome.minimal is not None:
        click.echo(f"FAILED: smallest failing schedule: {describe(outcome.minimal.schedule)}")
        click.echo(f"  missed: {', '.join(outcome.minimal.failed)}")
        click.echo(f"  reproduce: aftershock run {outcome.minimal_path}")
    else:
        click.echo("PASSED: no schedule within the bounds broke an expectation")
    if outcome.flaky:
        click.echo(f"FLAKY: {outcome.flaky}")
    click.echo(f"  repeat the search: {outcome.repeat}")
    click.echo(f"  report: {outcome.directory / 'explore.md'}")
    sys.exit(int(outcome.exit_code))


@main.command()
@click.option("--write", "write_to", type=click.Path(path_type=Path), help="Write the schema to this file.")
@click.option(
    "--results", "of_results", is_flag=True, help="The results.json schema instead of the scenario's."
)
def schema(write_to: Path | None, of_results: bool) -> None:
    """Print the scenario (or results.json) JSON Schema, generated from the models."""
    if of_results:
        from harness.results import schema_text
    else:
        from harness.scenario.schema import schema_text

    text = schema_text()
    if write_to is None:
        click.echo(text, nl=False)
    else:
        write_to.write_text(text, encoding="utf-8")
        click.echo(f"wrote {write_to}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@main.command()
@click.option("--run", "run_id", metavar="RUN_ID", help="Only this run's leftovers (its reports/<run-id>).")
@click.option(
    "--all",
    "include_live",
    is_flag=True,
    help="Also runs that are still alive (stops them!). With --run: that run even if it runs.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; change nothing.")
def cleanup(run_id: str | None, include_live: bool, dry_run: bool) -> None:
    """Remove what dead runs left behind: processes, scratch directories, containers.

    \b
    What each form touches (on this host; every form lists what it removes):
      aftershock cleanup                  every DEAD run (its harness is gone), anyone's
      aftershock cleanup --run ID         run ID only, if it is dead
      aftershock cleanup --run ID --all   run ID, even while it runs (stops it)
      aftershock cleanup --all            EVERY run on the machine, live ones too
      ... --dry-run                       only lists what the same form would remove
    Docker resources are taken only if this host labelled them. Exit 3 if anything could
    not be removed (one line each).
    """
    from harness.cleanup import clean_up

    errors = clean_up(run_id=run_id, include_live=include_live, dry_run=dry_run, say=_echo)
    for line in errors:
        _echo(f"cleanup: could not remove {line}", err=True)
    sys.exit(int(ExitCode.INFRASTRUCTURE if errors else ExitCode.OK))


@main.group()
def target() -> None:
    """Targets: check that one is ready to be rehearsed."""


@target.command(name="check")
@click.argument("name")
@click.option(
    "--backend",
    type=click.Choice(["process", "docker", "compose"]),
    help="Default: compose if the target has only a Compose file, else process.",
)
@click.option("--mode", help="A mode of the target (e.g. fragile).")
def target_check(name: str, backend: str | None, mode: str | None) -> None:
    """Start target NAME (a name under targets/ or a directory), wait for health, send one request of
    each op of its locustfile, read and check its audit, print what it found, stop everything."""
    from harness.check import check_target
    from harness.errors import AftershockError
    from harness.scenario.loader import find_target_dir, load_target

    given = Path(name)
    target_dir = (
        given if (given / "target.yaml").is_file() else find_target_dir(name, Path.cwd() / "scenarios" / "_")
    )
    if target_dir is None:
        _fail(
            f"aftershock: no target {name!r} (looked for targets/{name}/target.yaml, or a directory)",
            ExitCode.USAGE,
        )
    assert target_dir is not None
    try:
        loaded = load_target(target_dir)
        if backend is None:
            only_compose = loaded.compose is not None and not any(s.command for s in loaded.services.values())
            backend = "compose" if only_compose else "process"
        if mode is not None and mode not in loaded.modes:
            _fail(
                f"aftershock: target {loaded.name!r} has no mode {mode!r}"
                f" (modes: {', '.join(loaded.modes) or 'none'})",
                ExitCode.USAGE,
            )
        found = check_target(loaded, target_dir, backend, mode)
    except ScenarioError as exc:
        _fail(f"aftershock: {exc}", ExitCode.USAGE)
    except AftershockError as exc:
        notes = "".join(f"\n{n}" for n in getattr(exc, "__notes__", []))  # where its logs were kept
        _fail(f"aftershock: {exc}{notes}", ExitCode(exc.exit_code))
    _echo(found.render())
    sys.exit(int(ExitCode.OK if found.ok else ExitCode.EXPECTATION_MISSED))


if __name__ == "__main__":
    main()
