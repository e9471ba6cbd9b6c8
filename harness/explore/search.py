"""The search: each hypothesis example is a real, short rehearsal on a fresh target.

Reset between examples is a new target, not a cleaned one: every example is a full run of its
own (new service processes, a new PostgreSQL data directory, a new Toxiproxy server), so nothing
one example did can leak into the next.

Hypothesis is used as intended: ``@given`` over :func:`~harness.explore.strategy.schedules`, a
printed ``seed`` (or ``derandomize`` for CI) so the search repeats from one command, no deadline
and no health checks (examples take seconds by design). Hypothesis ignores its example database
when a seed is given (and forbids one with ``derandomize``), so failures are kept in a replay
file per scenario (``reports/explore/<scenario>/replay.json``) and fed back as explicit
``@example`` s: a failure found once is tried first next time, whatever the seed.
Shrinking re-runs rehearsals; a hard cap on rehearsals (``4 x budget``) and the ``--time``
limit stop it with the best schedule found so far. ``--time`` counts the search only: its clock
starts when the first rehearsal is asked for (setup before it is not counted), and a rehearsal
already started always finishes. A failure that does not repeat on replay is
reported as flaky, with both outcomes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from harness.errors import ExitCode, InfrastructureError, Interrupted, Problem, ScenarioError
from harness.explore.strategy import describe, schedules
from harness.files import atomic_write_text
from harness.scenario.loader import LoadedScenario, load_scenario
from harness.scenario.lookup import is_path
from harness.scenario.models import Explore


class ExampleFailed(AssertionError):
    """An expectation was missed: the property "every schedule is survived" does not hold."""


@dataclass
class Example:
    n: int
    schedule: list[dict[str, Any]]
    verdict: str  # passed | failed | error | skipped
    failed: list[str] = field(default_factory=list)
    run_dir: str = ""
    seconds: float = 0.0


@dataclass
class ExploreOutcome:
    directory: Path
    examples: list[Example]
    minimal: Example | None
    minimal_path: Path | None
    flaky: str | None
    seed: int
    exit_code: ExitCode
    repeat: str


def variant(
    base: dict[str, Any],
    loaded: LoadedScenario,
    schedule: list[dict[str, Any]],
    name: str,
    mode: str | None,
    where: Path,
) -> dict[str, Any]:
    """The scenario with this schedule as its faults, to be written into directory ``where``.

    The target is named by its path relative to ``where`` (the loader resolves a path relative to
    the scenario's own directory), so the file still runs after the tree is copied or checked out
    elsewhere: an absolute path would tie it to this machine.
    """
    doc = {k: v for k, v in base.items() if k != "explore"}
    target = doc.get("target")
    ref = dict(target) if isinstance(target, dict) else {"name": target}
    rel = os.path.relpath(loaded.target_dir, where.resolve())
    ref["name"] = rel if is_path(rel) else f"./{rel}"
    if mode:
        ref["mode"] = mode
    doc.update(name=name, target=ref, faults=schedule)
    return doc


def explore(
    loaded: LoadedScenario,
    *,
    out_dir: Path,
    budget: int | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    mode: str | None = None,
    derandomize: bool = False,
    say: Any = print,
) -> ExploreOutcome:
    scenario = loaded.scenario
    ex = _explore_block(loaded)
    budget = budget or ex.budget
    seed = scenario.seed if seed is None else seed
    base_dir = (out_dir / "explore" / scenario.name).resolve()
    here = base_dir / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (here / "examples").mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(loaded.path.read_text(encoding="utf-8"))
    limit = "" if time_limit is None else f", time limit {time_limit:g} s from the first rehearsal"
    how = "derandomized" if derandomize else f"seed {seed}"
    say(
        f"exploring {scenario.name}: {how}, budget {budget} rehearsal{'s' if budget != 1 else ''}{limit}; "
        f"each rehearsal starts a fresh target and runs {scenario.load.duration:g} s of load"
    )
    rehearsals = _Rehearsals(loaded, here, base, cap=budget * 4, time_limit=time_limit, mode=mode, say=say)
    replay_file = base_dir / "replay.json"
    replays = load_replays(replay_file)
    search = _hypothesis_search(rehearsals, loaded, budget, seed, derandomize, replays)
    if replays:
        say(f"replaying {len(replays)} schedule(s) that failed before, first")
    failure, flaky = _search_outcome(search, rehearsals)
    examples = rehearsals.examples
    failing = [e for e in examples if e.verdict == "failed"]
    minimal = failing[-1] if failure and failing else None  # hypothesis replays the minimal one last
    if flaky and minimal is not None:
        tries = [e for e in examples if e.schedule == minimal.schedule]
        flaky += "; outcomes: " + ", ".join(e.verdict for e in tries)
    minimal_path = None
    if minimal is not None:
        minimal_path = _write_minimal(here, base, loaded, minimal, seed, mode)
        save_replay(replay_file, minimal.schedule)
    how = "--derandomize" if derandomize else f"--seed {seed}"
    repeat = f"aftershock explore {loaded.path} {how} --budget {budget}" + (f" --mode {mode}" if mode else "")
    code = ExitCode.EXPECTATION_MISSED if minimal is not None else ExitCode.OK
    result = ExploreOutcome(here, examples, minimal, minimal_path, flaky, seed, code, repeat)
    write_explore_report(result, scenario.name)
    return result


def _explore_block(loaded: LoadedScenario) -> Explore:
    """The scenario's ``explore:`` block; a scenario without one cannot be explored."""
    ex = loaded.scenario.explore
    if ex is None:
        raise ScenarioError(
            [
                Problem(
                    str(loaded.path),
                    "explore",
                    "this scenario has no `explore:` block",
                    fix="add explore: {kinds: [...], start: [2s, 10s], ...}; see the README",
                )
            ]
        )
    return ex


class _Rehearsals:
    """One real rehearsal per example, on a scenario of its own; keeps every example and any
    fatal error (a bug of ours, an infrastructure failure), which stops the search."""

    def __init__(
        self,
        loaded: LoadedScenario,
        here: Path,
        base: dict[str, Any],
        *,
        cap: int,
        time_limit: float | None,
        mode: str | None,
        say: Any,
    ) -> None:
        self.loaded = loaded
        self.here = here
        self.base = base
        self.cap = cap
        self.time_limit = time_limit
        self.mode = mode
        self.say = say
        self.examples: list[Example] = []
        self.fatal: list[BaseException] = []
        self.seen: dict[str, Example] = {}  # schedule -> its rehearsal: a failure alone is rehearsed again
        self.started: float | None = None  # the search's clock: set by the first rehearsal asked for

    def _out_of_time(self) -> bool:
        """Whether ``--time`` is spent, counted from the first rehearsal the search asked for."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        return self.time_limit is not None and now - self.started > self.time_limit

    def rehearse(self, schedule: list[dict[str, Any]]) -> None:
        """Run one schedule; a missed expectation raises :class:`ExampleFailed` for hypothesis."""
        from hypothesis import reject

        from harness.run import Orchestrator, RunOptions

        if self.fatal or len(self.examples) >= self.cap or self._out_of_time():
            reject()  # stop spending rehearsals: the shrinker keeps the best schedule so far
        n = len(self.examples) + 1
        key = json.dumps(schedule, sort_keys=True)
        before = self.seen.get(key)
        if before is not None and before.verdict == "passed":  # rehearsed already: never twice
            self.say(f"(same schedule as example {before.n}, which passed: not rehearsed again)")
            return
        name = self.loaded.scenario.name
        doc = variant(
            self.base, self.loaded, schedule, f"{name}-example-{n}", self.mode, self.here / "examples"
        )
        path = self.here / "examples" / f"{n:03d}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        t = time.monotonic()
        try:
            item = load_scenario(path)
        except ScenarioError as exc:  # a generated schedule must always be valid: a bug of ours
            self.fatal.append(exc)
            reject()
        outcome = Orchestrator(item, RunOptions(out_dir=self.here / "runs"), progress=False).run()
        from harness.report.index import refresh_index

        problem = refresh_index(self.here / "runs")  # every rehearsal, as `aftershock run` does
        if problem:
            self.say(f"aftershock: {problem}")
        failed = [v.expectation for v in outcome.results.verdicts if not v.passed]
        verdict = {ExitCode.OK: "passed", ExitCode.EXPECTATION_MISSED: "failed"}.get(
            outcome.exit_code, "error"
        )
        example = Example(n, schedule, verdict, failed, str(outcome.run_dir), time.monotonic() - t)
        self.examples.append(example)
        self.seen[key] = example
        self.say(
            f"example {n}: {describe(schedule)} -> {verdict.upper()}"
            + (f" ({', '.join(failed)})" if failed else "")
        )
        if outcome.exit_code == ExitCode.INTERRUPTED:
            raise KeyboardInterrupt
        if verdict == "error":
            self.fatal.append(InfrastructureError(f"example {n} could not run: {outcome.results.error}"))
            reject()
        if verdict == "failed":
            raise ExampleFailed(", ".join(failed))


def _hypothesis_search(
    rehearsals: _Rehearsals,
    loaded: LoadedScenario,
    budget: int,
    seed: int,
    derandomize: bool,
    replays: list[list[dict[str, Any]]],
) -> Callable[[], None]:
    """The ``@given`` test over schedules: earlier failures first as ``@example`` s, no deadline,
    no database, no health checks, seeded unless derandomized."""
    from hypothesis import HealthCheck, Phase, example, given, settings
    from hypothesis import seed as seed_decorator

    ex = _explore_block(loaded)

    def rehearse(schedule: list[dict[str, Any]]) -> None:
        rehearsals.rehearse(schedule)

    config = settings(
        max_examples=budget,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    )
    search = given(schedules(ex, loaded.target))(rehearse)
    for schedule in reversed(replays):
        search = example(schedule)(search)
    search = config(search)
    if not derandomize:
        search = seed_decorator(seed)(search)
    return cast("Callable[[], None]", search)


def _search_outcome(search: Callable[[], None], rehearsals: _Rehearsals) -> tuple[bool, str | None]:
    """Run the search: (a schedule failed, why the failure is flaky if it is); a fatal error of a
    rehearsal is raised as itself, an interrupt as :class:`Interrupted`."""
    from hypothesis.errors import Flaky

    flaky: str | None = None
    failure = False
    try:
        search()
    except ExampleFailed:
        failure = True
    except Flaky as exc:
        failure = True
        flaky = f"a failing schedule passed when replayed: {str(exc).splitlines()[0]}"
    except KeyboardInterrupt:
        raise Interrupted("explore interrupted") from None
    except Exception as exc:  # hypothesis' own "Unsatisfiable" when every example was rejected
        if rehearsals.fatal:
            raise rehearsals.fatal[0] from None
        if not rehearsals.examples:
            raise InfrastructureError(f"exploration could not run a single example: {exc}") from None
    if rehearsals.fatal and not failure:
        raise rehearsals.fatal[0]
    return failure, flaky


def _write_minimal(
    here: Path, base: dict[str, Any], loaded: LoadedScenario, minimal: Example, seed: int, mode: str | None
) -> Path:
    """The smallest failing schedule as a scenario of its own, runnable with ``aftershock run``."""
    name = loaded.scenario.name
    minimal_path = here / "minimal.yaml"
    doc = variant(base, loaded, minimal.schedule, f"{name}-minimal", mode, here)
    doc["description"] = (
        f"Smallest failing fault schedule found by `aftershock explore` (seed {seed}): "
        f"{describe(minimal.schedule)}. Missed: {', '.join(minimal.failed)}."
    )
    minimal_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return minimal_path


def load_replays(path: Path) -> list[list[dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in data.get("schedules", []) if isinstance(s, list)]


def save_replay(path: Path, schedule: list[dict[str, Any]], keep: int = 5) -> None:
    """Remember a minimal failing schedule (newest first, a few at most) for the next search."""
    schedules = [schedule] + [s for s in load_replays(path) if s != schedule]
    atomic_write_text(path, json.dumps({"schedules": schedules[:keep]}, indent=1) + "\n")


def write_explore_report(outcome: ExploreOutcome, name: str) -> None:
    data = {
        "scenario": name,
        "seed": outcome.seed,
        "repeat": outcome.repeat,
        "flaky": outcome.flaky,
        "minimal": None if outcome.minimal is None else asdict(outcome.minimal),
        "minimal_scenario": None if outcome.minimal_path is None else str(outcome.minimal_path),
        "examples": [asdict(e) for e in outcome.examples],
    }
    atomic_write_text(outcome.directory / "explore.json", json.dumps(data, indent=2) + "\n")
    lines = [f"# Exploration of `{name}`", ""]
    if outcome.minimal is not None:
        lines += [
            f"**FAILED**: the smallest failing schedule found is `{describe(outcome.minimal.schedule)}`"
            f" (missed: {', '.join(outcome.minimal.failed)}).",
            "",
            f"Reproduce it: `aftershock run {outcome.minimal_path}`. Its run: `{outcome.minimal.run_dir}`"
            " (report.html there shows the timeline).",
            "",
        ]
    else:
        lines += ["**PASSED**: no schedule within the bounds broke an expectation.", ""]
    if outcome.flaky:
        lines += [f"**Flaky**: {outcome.flaky}", ""]
    lines += [
        f"Repeat the search: `{outcome.repeat}`",
        "",
        "| # | schedule | verdict | missed | seconds |",
        "|---|---|---|---|---|",
    ]
    for e in outcome.examples:
        lines.append(
            f"| {e.n} | {describe(e.schedule)} | {e.verdict} | {', '.join(e.failed)} | {e.seconds:.0f} |"
        )
    atomic_write_text(outcome.directory / "explore.md", "\n".join(lines) + "\n")
