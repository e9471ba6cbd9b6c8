"""Compose targets against a real Docker engine and the real Compose v2, rehearsed through the CLI.

* one scenario (a ``down`` on ``api->db`` and a ``crash`` of the worker mid-charge) on all three
  backends, verdicts side by side; the same on Compose in fragile mode fails as it must;
* a Compose-only target (``targets/orders-compose``: no commands, a worker declared with
  ``health: {log: ...}``) leaves no container, network or volume of its project after a normal
  run, after Ctrl-C, and after SIGKILL + ``aftershock cleanup``.

Images are never pulled (``AFTERSHOCK_OFFLINE=1``): everything builds from the local base.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.compose.cli import project_name
from harness.compose.provision import find_compose
from harness.docker.engine import docker_client
from harness.docker.images import listed
from harness.errors import InfrastructureError
from tests.conftest import REPO, aftershock, latest_run, results_of

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

OFFLINE = {"AFTERSHOCK_OFFLINE": os.environ.get("AFTERSHOCK_OFFLINE", "1")}

DOWN_AND_CRASH = """\
name: down-and-crash
description: api->db is down for 3 s, then the worker is killed mid-charge; nothing may be lost.
target: {target}
backend: {backend}
load: {{users: 5, rate_per_user: 5, duration: 15s}}
slo: {{window: 1s, success_rate: 0.99, hold: 3s}}
faults:
  - {{kind: down, link: api->db, at: 3s, duration: 3s}}
  - {{kind: crash, service: worker, when_log: "step charge", at: 7s, duration: 1s}}
drain_timeout: 15s
expect:
  recovery_time: "<= 5s"
  recovered: true
  lost_writes: 0
  duplicate_writes: 0
  corrupted_writes: 0
  stuck: 0
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerClient]:
    try:
        client = docker_client()
        find_compose()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and Docker or Compose is missing:\n{exc}")
        pytest.skip(f"no Docker engine or Compose: {str(exc).splitlines()[0]}")
    yield client
    client.close()


def project_left(client: DockerClient, run_id: str) -> list[str]:
    """Containers, networks and volumes of the run's Compose project still on the engine."""
    mine = {"label": f"com.docker.compose.project={project_name(run_id)}"}
    return (
        [f"container {c.name}" for c in client.containers.list(all=True, filters=mine)]
        + [f"network {n.name}" for n in client.networks.list(filters=mine)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=mine)]
    )


def verdicts(run_dir: Path) -> dict[str, bool]:
    """expectation -> passed (all faults and trials folded: one miss is a miss)."""
    out: dict[str, bool] = {}
    for v in results_of(run_dir)["verdicts"]:
        out[v["expectation"]] = out.get(v["expectation"], True) and bool(v["passed"])
    return out


def _rehearse(scenario: Path, out: Path, backend: str, mode: str | None = None) -> tuple[int, Path, str]:
    args = ["run", str(scenario), "--backend", backend, "--out", str(out), "--quiet"]
    proc = aftershock(*args, *(["--mode", mode] if mode else []), env=OFFLINE, timeout=600)
    return proc.returncode, latest_run(out), proc.stdout[-3000:] + proc.stderr[-3000:]


def test_one_scenario_on_three_backends_side_by_side(engine: DockerClient, tmp_path: Path) -> None:
    scenario = tmp_path / "down-and-crash.yaml"
    scenario.write_text(DOWN_AND_CRASH.format(target="orders", backend="process"))
    table: dict[str, dict[str, bool]] = {}
    for backend in ("process", "docker", "compose"):
        code, run_dir, output = _rehearse(scenario, tmp_path / backend, backend)
        assert code == 0, output
        table[backend] = verdicts(run_dir)
    assert project_left(engine, run_dir.name) == []
    lines = ["expectation".ljust(18) + "".join(c.ljust(10) for c in table)]
    for expectation in table["process"]:
        cells = ("PASS" if table[c].get(expectation) else "FAIL" for c in table)
        lines.append(expectation.ljust(18) + "".join(cell.ljust(10) for cell in cells))
    print("\n" + "\n".join(lines))
    assert table["docker"] == table["process"] == table["compose"], "the backends disagree"
    assert set(table["process"]) == {
        "recovery_time",
        "recovered",
        "lost_writes",
        "duplicate_writes",
        "corrupted_writes",
        "stuck",
    }


def test_the_fragile_mode_fails_on_compose_as_on_the_others(engine: DockerClient, tmp_path: Path) -> None:
    scenario = tmp_path / "down-and-crash.yaml"
    scenario.write_text(DOWN_AND_CRASH.format(target="orders", backend="compose"))
    code, run_dir, output = _rehearse(scenario, tmp_path / "fragile", "compose", "fragile")
    assert code == 1, output
    assert not verdicts(run_dir)["corrupted_writes"]  # the float-money bug, through the override's env
    assert project_left(engine, run_dir.name) == []


def _start(scenario: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=REPO,
        env={**os.environ, **OFFLINE},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a Ctrl-C at a terminal reaches the group
    )


def _wait_for_load(out: Path, proc: subprocess.Popen[str], timeout: float = 300.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early:\n{proc.stdout.read() if proc.stdout else ''}"
        runs = [p for p in out.glob("*") if (p / "journal.jsonl").is_file()]
        if runs and '"load_started"' in (runs[0] / "journal.jsonl").read_text():
            return runs[0]
        time.sleep(0.5)
    raise AssertionError("load never started")


def test_compose_only_target_leaves_nothing_normal_ctrl_c_sigkill(
    engine: DockerClient, tmp_path: Path
) -> None:
    scenario = tmp_path / "orders-compose.yaml"
    scenario.write_text(DOWN_AND_CRASH.format(target="orders-compose", backend="compose"))

    # a normal run: passes (the worker is ready by its log line), and down -v removed everything
    out = tmp_path / "normal"
    proc = aftershock("run", str(scenario), "--out", str(out), "--quiet", env=OFFLINE, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = latest_run(out)
    assert "worker ready" in (run_dir / "trial-1" / "services" / "worker.log").read_text()
    assert project_left(engine, run_dir.name) == []

    # Ctrl-C: SIGINT to the whole process group, as a terminal sends it
    out = tmp_path / "interrupted"
    running = _start(scenario, out)
    run_dir = _wait_for_load(out, running)
    assert project_left(engine, run_dir.name) != []
    os.killpg(running.pid, signal.SIGINT)
    assert running.wait(timeout=300) == 130
    assert json.loads((run_dir / "results.json").read_text())["interrupted"] is True
    assert project_left(engine, run_dir.name) == []

    # SIGKILL of the harness: the project stays until `aftershock cleanup` sweeps it by label
    out = tmp_path / "killed"
    running = _start(scenario, out)
    run_dir = _wait_for_load(out, running)
    running.kill()
    running.wait(timeout=30)
    cleanup = aftershock("cleanup", env=OFFLINE, timeout=300)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    for _ in range(100):  # a removal another sweeper (a concurrent run) started may still be finishing
        if not project_left(engine, run_dir.name):
            break
        time.sleep(0.1)
    assert project_left(engine, run_dir.name) == []


def test_a_compose_target_is_checked_before_anything_starts(engine: DockerClient, tmp_path: Path) -> None:
    target = tmp_path / "shop"
    target.mkdir()
    (target / "compose.yaml").write_text(
        "services:\n  web: {image: aftershock-base:bookworm, command: [sleep, '60']}\n"
        "  db: {image: aftershock-base:bookworm, command: [sleep, '60']}\n"
    )
    (target / "target.yaml").write_text("compose: compose.yaml\nentrypoint: web\nlinks: [web->cache]\n")
    (target / "locustfile.py").write_text("")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\ntarget: ./shop\nbackend: compose\nload: {users: 1, duration: 10s}\n"
        "slo: {window: 1s, success_rate: 0.9, hold: 1s}\n"
    )
    proc = aftershock("validate", str(scenario), env=OFFLINE)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "links[0]: no service named 'cache'" in proc.stdout + proc.stderr
    assert "use one of: db, web" in proc.stdout + proc.stderr  # the services Compose resolved


def test_pause_crash_and_restart_act_on_compose_services(engine: DockerClient, tmp_path: Path) -> None:
    from harness.scenario.loader import load_target
    from harness.session import TargetSession

    target_dir = REPO / "targets" / "orders-compose"
    target = load_target(target_dir)
    run_id = f"actions-{os.getpid()}-{int(time.time())}"
    tags = [f"aftershock-compose-orders-compose-{s}:latest" for s in ("api", "db", "payments", "worker")]
    before = {tag: _image_id(engine, tag) for tag in tags}
    with TargetSession(target, target_dir, tmp_path / "run", run_id, backend="compose") as session:
        backend = session.backend
        for act, status in (
            ("pause", "paused"),
            ("resume", "running"),
            ("kill", "exited"),
            ("restart", "running"),
        ):
            getattr(backend, act)("worker")
            assert backend.state("worker")["Status"] == status, act  # type: ignore[attr-defined]
        log = backend.log_path("worker").read_text()
        assert log.count("worker ready") == 2  # the restart waited for its own ready line
        # The database wants the run's password on the run network (before: samenet trust).
        secret: str = backend.secret  # type: ignore[attr-defined]
        db = (backend.ip("db"), backend.ports["db"])  # type: ignore[attr-defined]
        assert db[0], "the database has an address on the run network"
        assert asyncio.run(_pg_user(*db, None)).startswith("refused"), "no password: no entry"
        assert asyncio.run(_pg_user(*db, "guess")).startswith("refused")
        assert asyncio.run(_pg_user(*db, secret)) == "postgres"
    # the build re-tagged the stable names: the images it untagged went (before: a <none> each)
    replaced = {old for tag, old in before.items() if old is not None and _image_id(engine, tag) != old}
    assert replaced, "each run's build is a new image (the project label differs)"
    stayed = replaced & {i.id for i in listed(engine, all=True)}
    in_use = {c.attrs.get("Image") for c in engine.containers.list(all=True, ignore_removed=True)}
    assert stayed <= in_use, "the untagged images stayed (only a concurrent run's container may keep one)"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert written == [], "the secret must reach Compose's environment only, never a file"
    assert project_left(engine, run_id) == []


def _image_id(engine: DockerClient, tag: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        return str(engine.images.get(tag).id)
    except ImageNotFound:
        return None


def test_the_sweep_removes_untagged_builds_of_runs_and_nothing_else(engine: DockerClient) -> None:
    """Untagged images left by runs' Compose builds (~350 on this host before) go with the next
    sweep; one a container uses, or of another run when one run is swept, stays."""
    from harness.compose.sweep import sweep_engine
    from harness.docker.base import base_image

    base = base_image(engine)
    run_a, run_b = f"tdangle-a{os.getpid()}", f"tdangle-b{os.getpid()}"

    def dangling_build(run_id: str, n: int) -> str:
        """An image whose tag moved on (as a rebuild under Compose's stable name moves it)."""
        repository, tag = "aftershock-tdangle", f"{run_id}-{n}"
        dockerfile = f"FROM {base}\nLABEL test.n={time.time_ns()}\n".encode()
        labels = {"com.docker.compose.project": project_name(run_id)}
        image, _ = engine.images.build(
            fileobj=io.BytesIO(dockerfile), labels=labels, tag=f"{repository}:{tag}", rm=True
        )
        engine.api.tag(base, repository, tag, force=True)  # the tag moves to another image...
        engine.images.remove(f"{repository}:{tag}")  # ...and goes: the build stays, untagged
        return str(image.id)

    a1, a2, b1 = dangling_build(run_a, 1), dangling_build(run_a, 2), dangling_build(run_b, 1)
    user = engine.containers.create(a2, command=["true"])
    try:
        removed = sweep_engine(run_id=run_a)
        present = {i.id for i in listed(engine, all=True)}
        assert a1 not in present and a2 in present  # in use: no sweep takes it
        # Every run's start sweeps untagged run builds engine-wide (garbage whoever's run it was), so
        # a run of another test may take a1 (and b1) first: then ours saw it gone, not an error.
        said = " ".join(removed)
        assert b1.removeprefix("sha256:")[:12] not in said, removed  # this sweep is run_a's only
        assert a2.removeprefix("sha256:")[:12] not in said, removed
    finally:
        user.remove(force=True)
        for image_id in (a1, a2, b1):
            with contextlib.suppress(Exception):
                engine.images.remove(image_id)


def test_a_run_build_removed_by_another_sweep_mid_listing_does_not_break_this_one(
    engine: DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in a fresh-clone suite run: a run's start sweep listed the untagged run builds while
    another run's sweep removed one, and ``aftershock run`` died with a "no such image" traceback.
    Here the other sweep is played exactly in between: every image inspected is removed first."""
    from harness.docker.base import base_image
    from harness.docker.images import dangling_run_builds

    base = base_image(engine)
    labels = {"com.docker.compose.project": project_name(f"tgone{os.getpid()}")}
    dockerfile = f"FROM {base}\nLABEL test.n={time.time_ns()}\n".encode()
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile), labels=labels, rm=True)
    inspect = engine.api.inspect_image

    def removed_meanwhile(name: str) -> object:
        with contextlib.suppress(Exception):
            engine.images.remove(name, force=True)
        return inspect(name)

    monkeypatch.setattr(engine.api, "inspect_image", removed_meanwhile)
    try:
        found = dangling_run_builds(engine)  # listed as it stood; nothing inspected one by one
        assert any(image_id == image.id for image_id, _ in found)
    finally:
        monkeypatch.undo()
        with contextlib.suppress(Exception):
            engine.images.remove(image.id, force=True)


async def _pg_user(host: str, port: int, password: str | None) -> str:
    """``current_user`` of a connection as ``postgres`` with ``password``, or why it was refused."""
    import asyncpg

    try:
        conn = await asyncpg.connect(
            host=host, port=port, user="postgres", database="postgres", password=password, timeout=10
        )
    except asyncpg.PostgresError as exc:  # password authentication failed / none supplied
        return f"refused: {exc}"
    try:
        return str(await conn.fetchval("select current_user"))
    finally:
        await conn.close()


def test_a_compose_file_not_written_for_aftershock_is_rehearsed(engine: DockerClient, tmp_path: Path) -> None:
    """examples/compose-shop: a store, a web front and a worker with no port, by service name; a down
    on web->store and a crash of the worker; every acknowledged order stored and shipped."""
    out_dir = tmp_path / "out"
    proc = aftershock(
        "run",
        "examples/compose-shop/shop-store-down.yaml",
        "--out",
        str(out_dir),
        "--quiet",
        env=OFFLINE,
        timeout=600,
    )
    run_dir = latest_run(out_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    faults = {f["kind"] for t in results_of(run_dir)["trials"] for f in t["faults"]}
    assert faults == {"down", "crash"}
    assert project_left(engine, run_dir.name) == []
