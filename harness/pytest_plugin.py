"""aftershock's pytest plugin (registered by entry point; imports nothing heavy at collection).

* ``pytest scenarios/`` (or any scenario file named on the command line) collects each scenario
  as a test item that runs the rehearsal and fails with the verdict table. Which files count is
  the ini option ``aftershock_scenarios`` (globs relative to the rootdir, default
  ``scenarios/*.yaml``), so test-data YAML elsewhere is never mistaken for a scenario.
* Fixtures for tests written in Python: ``aftershock_target`` (a started target: its own
  Toxiproxy, a proxy per link, every service healthy), ``toxiproxy`` (the client bound to it)
  and ``fault`` (``with fault.latency("api->db", 500): ...``, always cleared). Choose the target
  with ``@pytest.mark.aftershock_target("orders", mode="fragile")`` or the ini option
  ``aftershock_target``.
* pytest's own ``--junitxml`` reports each scenario as a test case.
"""

from __future__ import annotations

import fnmatch
import secrets
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.faults.factory import FaultFactory
    from harness.run import RunOutcome
    from harness.session import TargetSession
    from harness.toxiproxy.client import ToxiproxyClient


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aftershock", "failure rehearsals")
    group.addoption(
        "--aftershock-backend", choices=["process", "docker", "compose"], help="override scenarios' backend"
    )
    group.addoption("--aftershock-mode", help="run targets in this mode (e.g. fragile)")
    group.addoption("--aftershock-out", default="reports", help="where run directories go (default: reports)")
    parser.addini(
        "aftershock_scenarios",
        "globs (relative to rootdir) of scenario files to collect",
        type="linelist",
        default=["scenarios/*.yaml", "scenarios/*.yml"],
    )
    parser.addini("aftershock_target", "default target for the aftershock_target fixture", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "aftershock_target(name, mode=None, env=None, backend='process'): the target to start"
    )


def _is_scenario(file_path: Path, config: pytest.Config) -> bool:
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    if file_path.resolve() in named:
        return True
    try:
        relative = file_path.resolve().relative_to(config.rootpath.resolve()).as_posix()
    except ValueError:
        return False
    return any(fnmatch.fnmatch(relative, pattern) for pattern in config.getini("aftershock_scenarios"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _is_scenario(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class RehearsalFailed(Exception):
    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        super().__init__(outcome.exit_code.name)


class ScenarioItem(pytest.Item):
    """One rehearsal. Fails with the verdict table when an expectation is missed."""

    def runtest(self) -> None:
        from harness.run import Orchestrator, RunOptions
        from harness.scenario.loader import load_scenario

        opt = self.config.getoption
        loaded = load_scenario(self.path)
        options = RunOptions(
            Path(opt("aftershock_out")), opt("aftershock_backend"), None, None, opt("aftershock_mode")
        )
        # A rehearsal takes a minute: say what it does, on the real terminal (pytest captures the
        # test's own output); `-q` keeps it quiet.
        progress = self.config.getoption("verbose") >= 0
        capman = self.config.pluginmanager.getplugin("capturemanager")
        quiet_capture = capman.global_and_fixture_disabled() if capman and progress else nullcontext()
        with quiet_capture:
            if progress:
                sys.stderr.write(f"\n{self.name}: rehearsing {self.path}\n")
            outcome = Orchestrator(loaded, options, progress=progress).run()
        self.user_properties.append(("run_dir", str(outcome.run_dir)))
        from harness.report.index import refresh_index

        problem = refresh_index(options.out_dir)  # as `aftershock run` does
        if problem:
            self.user_properties.append(("index", problem))
        if outcome.exit_code != 0:
            raise RehearsalFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from harness.errors import ScenarioError

        if isinstance(excinfo.value, RehearsalFailed):
            from harness.report.console import verdict_table

            outcome = excinfo.value.outcome
            text = verdict_table(outcome.results)
            if outcome.results.error:
                text += f"\n\nerror: {outcome.results.error}"
            where = outcome.run_dir / "results.json"
            return f"rehearsal {self.name} {outcome.exit_code.name}:\n{text}\nresults: {where}"
        if isinstance(excinfo.value, ScenarioError):
            return f"invalid scenario:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"rehearsal: {self.name}"


def _find_target(name: str, config: pytest.Config) -> Path:
    """The loader's lookup (:mod:`harness.scenario.lookup`): a path is relative to the working
    directory, a name is searched under ``<rootdir>/targets`` first."""
    from harness.errors import Problem, ScenarioError
    from harness.scenario.lookup import find_target

    found = find_target(name, Path.cwd(), [config.rootpath / "targets"])
    if found.directory is None:
        raise ScenarioError([Problem("aftershock_target", "name", found.problem, name, fix=found.fix)])
    return found.directory


@pytest.fixture
def aftershock_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TargetSession]:
    """A started target (torn down after the test, whatever happens)."""
    from harness.scenario.loader import load_target
    from harness.session import TargetSession, mode_env

    marker = request.node.get_closest_marker("aftershock_target")
    name = marker.args[0] if marker and marker.args else request.config.getini("aftershock_target")
    if not name:
        raise pytest.UsageError(
            "mark the test with @pytest.mark.aftershock_target('name') or set ini aftershock_target"
        )
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    target_dir = _find_target(str(name), request.config)
    target = load_target(target_dir)
    env = mode_env(target, kwargs.get("mode"), kwargs.get("env") or {})
    run_id = "pytest-" + secrets.token_hex(3)
    with TargetSession(
        target,
        target_dir,
        tmp_path / "aftershock",
        run_id,
        backend=kwargs.get("backend", "process"),
        env_overrides=env,
    ) as session:
        yield session


@pytest.fixture
def toxiproxy(aftershock_target: TargetSession) -> ToxiproxyClient:
    """The Toxiproxy client bound to the started target's own server."""
    return aftershock_target.toxiproxy


@pytest.fixture
def fault(aftershock_target: TargetSession) -> FaultFactory:
    """Faults as context managers on the started target: ``with fault.down("api->db"): ...``."""
    from harness.faults.factory import FaultFactory

    return FaultFactory(aftershock_target.target, aftershock_target.proxies, aftershock_target.backend)
