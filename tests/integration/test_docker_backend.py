"""The docker backend against a real Docker engine: real containers, a real Toxiproxy container.

Needs an engine (``scripts/ensure-docker.sh``). Without one these tests skip, except in CI (``CI``
set), where a missing engine is a failure: a green CI must mean the backend was exercised.
Images are never pulled here (``AFTERSHOCK_OFFLINE=1`` unless set): the base is
``$AFTERSHOCK_BASE_IMAGE`` if present, else ``aftershock-base:bookworm`` built once with debootstrap.
After every test, nothing labelled by this process (containers, networks) may remain.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from harness.docker.backend import DockerBackend
from harness.docker.containers import container_ip
from harness.docker.engine import CONTAINER_PORT, OWNER_LABEL, RUN_LABEL, docker_client, owner_running
from harness.docker.images import CHECKOUT_LABEL, PIN_PREFIX, checkout_id, listed, remove_built_by
from harness.docker.sweep import sweep_docker
from harness.errors import InfrastructureError, ScenarioError
from harness.faults.link import LinkFault, link_effect
from harness.reaper import owner_token
from harness.scenario.loader import load_target
from harness.scenario.models import DownFault, LatencyFault
from harness.scenario.target import Target
from harness.toxiproxy.provision import find_toxiproxy
from harness.toxiproxy.proxies import LinkProxies
from tests.conftest import REPO
from tests.pg import current_user

if TYPE_CHECKING:
    from docker import DockerClient

    from harness.docker.toxiproxy import DockerToxiproxy

pytestmark = pytest.mark.docker

GROUNDTRUTH = REPO / "targets" / "groundtruth"
ORDERS = REPO / "targets" / "orders"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def engine() -> Iterator[DockerClient]:
    try:
        client = docker_client()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers (run scripts/ensure-docker.sh):\n{exc}")
        pytest.skip(f"no Docker engine: {str(exc).splitlines()[0]}")
    with pytest.MonkeyPatch.context() as mp:
        if "AFTERSHOCK_OFFLINE" not in os.environ:
            mp.setenv("AFTERSHOCK_OFFLINE", "1")  # tests never pull from a registry
        yield client
    client.close()


def labelled(client: DockerClient, *labels: str) -> list[str]:
    """Names of containers and networks carrying every ``key=value`` in ``labels``."""
    filters = {"label": list(labels)}
    names = [f"container {c.name}" for c in client.containers.list(all=True, filters=filters)]
    return names + [f"network {n.name}" for n in client.networks.list(filters=filters)]


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the engine leaves nothing labelled by this process behind."""
    yield
    if "engine" in request.fixturenames:
        client: DockerClient = request.getfixturevalue("engine")
        assert labelled(client, f"{OWNER_LABEL}={owner_token()}") == [], "the test left docker resources"


@dataclass
class Stack:
    target: Target
    backend: DockerBackend
    server: DockerToxiproxy
    proxies: LinkProxies

    def url(self, path: str = "") -> str:
        return self.backend.entry_url(self.target.entrypoint) + path


@contextlib.contextmanager
def running(
    target_dir: Path, run_dir: Path, env: dict[str, dict[str, str]] | None = None, run_id: str | None = None
) -> Iterator[Stack]:
    """A target up on Docker the way the orchestrator does it: network, Toxiproxy, proxies, services."""
    run_id = run_id or f"t{secrets.token_hex(3)}"
    target = load_target(target_dir)
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(DockerBackend(target, target_dir, run_dir, run_id, env_overrides=env))
        server = stack.enter_context(backend.toxiproxy(find_toxiproxy(), run_dir / "toxiproxy.log"))
        proxies = stack.enter_context(LinkProxies(server, run_id))
        links: dict[str, dict[str, str]] = {name: {} for name in target.services}
        for link in target.links:
            client, srv = target.link_ends(link)
            links[client][link] = proxies.create(link, backend.upstream_address(srv))
        for service in target.start_order():
            backend.start(service, links[service])
        yield Stack(target, backend, server, proxies)


def status(url: str, timeout: float = 2.0) -> int | str:
    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def eventually(url: str, want: int | str, within: float) -> float:
    """Seconds until ``url`` answers ``want``; fails after ``within`` with the last answer."""
    start = time.monotonic()
    got: int | str = "nothing yet"
    while time.monotonic() - start < within:
        got = status(url, timeout=1.0)
        if got == want:
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer {want} within {within:g}s (last: {got})")


# -- groundtruth ----------------------------------------------------------------------------
def test_groundtruth_through_docker_toxiproxy_kill_and_restart(engine: DockerClient, tmp_path: Path) -> None:
    with running(GROUNDTRUTH, tmp_path, env={"app": {"GT_RECOVERY_DELAY": "0"}}) as s:
        assert status(s.url("/work")) == 200
        # the client was handed the proxy, never the server
        app = s.backend.container("app")
        app.reload()
        args = " ".join(app.attrs["Args"])
        assert "--dep toxiproxy:" in args and "dep:8000" not in args
        # the server's upstream is the service's alias on the run network
        assert s.server.client.proxies()[s.proxies.name("app->dep")]["upstream"] == "dep:8000"

        # a link fault through the Toxiproxy container is seen through the target
        down = DownFault(kind="down", link="app->dep", at=0, duration=1)
        with LinkFault(link_effect(down), s.proxies, "f-down"):
            assert status(s.url("/work")) == 503
        eventually(s.url("/work"), 200, within=3)
        slow = LatencyFault(kind="latency", link="app->dep", at=0, duration=1, latency=0.3)
        with LinkFault(link_effect(slow), s.proxies, "f-slow"):
            started = time.monotonic()
            assert status(s.url("/work")) == 503  # the app's probe gives up after 0.3 s
            assert time.monotonic() - started >= 0.28

        # the dependency crashes (SIGKILL) and comes back under the same alias
        s.backend.kill("dep")
        assert s.backend.container("dep").status in ("exited", "dead")
        eventually(s.url("/work"), 503, within=3)
        s.backend.restart("dep")
        eventually(s.url("/work"), 200, within=5)

        # the entrypoint crashes and comes back at the same host URL
        url = s.url("/health")
        s.backend.kill("app")
        assert isinstance(status(url, timeout=1.0), str)  # nothing answers
        s.backend.restart("app")
        assert s.url("/health") == url
        assert status(url) == 200
        # the live log shows both starts, written while the service runs
        log = s.backend.log_path("app").read_text()
        assert log.count("--- aftershock: starting app") == 2
        assert log.count("GT delay_ns") == 2
    assert (tmp_path / "toxiproxy.log").exists()


def test_a_wedged_toxiproxy_container_is_replaced_with_the_same_proxies(
    engine: DockerClient, tmp_path: Path
) -> None:
    with running(GROUNDTRUTH, tmp_path, env={"app": {"GT_RECOVERY_DELAY": "0"}}) as s:
        url, before = s.server.url, s.server.client.proxies()
        down = DownFault(kind="down", link="app->dep", at=0, duration=1)
        with LinkFault(link_effect(down), s.proxies, "f-wedge"):
            assert status(s.url("/work")) == 503
            engine.containers.get(s.server.container_name).pause()  # Toxiproxy stops answering
        # clearing the fault could not reach it, so it was replaced: same API address, same proxies
        assert s.server.url == url
        assert s.server.client.proxies().keys() == before.keys()
        eventually(s.url("/work"), 200, within=5)


def test_pause_times_requests_out_and_unpause_restores(engine: DockerClient, tmp_path: Path) -> None:
    with running(GROUNDTRUTH, tmp_path, env={"app": {"GT_RECOVERY_DELAY": "0"}}) as s:
        assert status(s.url("/health")) == 200
        s.backend.pause("app")
        try:
            app = s.backend.container("app")
            app.reload()
            assert app.status == "paused"
            assert status(s.url("/health"), timeout=1.0) == "ReadTimeout"
        finally:
            s.backend.resume("app")
        assert eventually(s.url("/health"), 200, within=2) < 1.0
        # a paused dependency: the app's probe times out, the app answers 503
        s.backend.pause("dep")
        assert status(s.url("/work")) == 503
        # killing a paused container works (it is thawed first), and it restarts clean
        s.backend.kill("dep")
        s.backend.restart("dep")
        eventually(s.url("/work"), 200, within=5)


# -- orders: PostgreSQL in a container --------------------------------------------------------
def test_orders_on_docker_survives_a_database_crash(engine: DockerClient, tmp_path: Path) -> None:
    with running(ORDERS, tmp_path) as s:
        key = str(uuid.uuid4())
        created = requests.post(
            s.url("/orders"),
            json={"item": "mug", "qty": 1, "amount_cents": 1234},
            headers={"Idempotency-Key": key},
            timeout=5,
        )
        assert created.status_code == 201, created.text
        order = s.url(f"/orders/{created.json()['id']}")
        assert status(order) == 200

        with LinkFault(
            link_effect(DownFault(kind="down", link="api->db", at=0, duration=1)), s.proxies, "f-db"
        ):
            eventually(s.url("/health"), 503, within=3)
        eventually(s.url("/health"), 200, within=5)

        s.backend.kill("db")
        eventually(s.url("/health"), 503, within=3)
        s.backend.restart("db")
        eventually(s.url("/health"), 200, within=10)
        assert status(order) == 200, "the order written before the crash must survive it"
    assert "starting db" in (tmp_path / "services" / "db.log").read_text()


def test_the_orders_database_on_docker_wants_the_runs_password(engine: DockerClient, tmp_path: Path) -> None:
    """Before: ``samenet trust``, so anything on the run network (or the host, through the bridge)
    was superuser. Now the run's secret is the password; it reaches the services' environment
    only, never the run dir's files."""
    backend = DockerBackend(load_target(ORDERS), ORDERS, tmp_path, f"tpg{secrets.token_hex(3)}")

    with backend:
        backend.start("db", {})
        address = container_ip(backend.container("db"), backend.network_name)
        assert address, "the database has an address on the run network"
        assert current_user(address, CONTAINER_PORT, None).startswith("refused"), "no password: no entry"
        assert current_user(address, CONTAINER_PORT, "guess").startswith("refused")
        assert current_user(address, CONTAINER_PORT, backend.secret) == "postgres"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and backend.secret.encode() in p.read_bytes()]
    assert written == [], "the secret must not be written to the run dir"


# -- errors that say what to do -------------------------------------------------------------
def throw_away_images(engine: DockerClient, target_dir: Path) -> None:
    """Remove what a test's temporary target built: tags and pins (before: one pin per run piled
    up, ``aftershock-broken:use-<checkout>`` x 20), and check nothing of it is left."""
    checkout = checkout_id(str(target_dir.resolve()))
    remove_built_by(engine, str(target_dir.resolve()))
    left = [
        t
        for image in listed(engine)
        for t in image.tags
        if t.endswith(f":{PIN_PREFIX}{checkout}") or image.labels.get(CHECKOUT_LABEL) == checkout
    ]
    assert left == [], "a test's throwaway images stayed"


def write_target(root: Path, services: str) -> Path:
    (root / "docker").mkdir(parents=True)
    (root / "docker" / "Dockerfile").write_text("ARG BASE=aftershock-base:bookworm\nFROM ${BASE}\n")
    (root / "target.yaml").write_text(
        textwrap.dedent(
            """\
            name: broken
            entrypoint: web
            services:
            """
        )
        + textwrap.indent(textwrap.dedent(services), "  ")
    )
    return root


def test_health_timeout_and_early_exit_show_status_logs_and_a_hint(
    engine: DockerClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target_dir = write_target(
        tmp_path / "broken",
        """\
        web:
          command: ["{python}", "-c", "print('warming up forever', flush=True); import time; time.sleep(600)"]
          health: {http: /health}
          startup_timeout: 2s
        crashy:
          command: ["{python}", "never-used-on-docker.py"]
          health: {tcp: true}
          docker:
            command: ["{python}", "-c", "import sys; print('bad config: {run_id}', flush=True); sys.exit(3)"]
        """,
    )
    target = load_target(target_dir)
    backend = DockerBackend(target, target_dir, tmp_path / "run", "tbroken")
    request.addfinalizer(lambda: throw_away_images(engine, target_dir))
    try:
        with backend:
            with pytest.raises(InfrastructureError) as slow:
                backend.start("web", {})
            text = str(slow.value)
            assert "did not become healthy within 2s" in text
            assert "container status: running" in text
            assert "warming up forever" in text
            assert "hint:" in text
            with pytest.raises(InfrastructureError) as dead:
                backend.start("crashy", {})
            text = str(dead.value)
            assert "exited during start-up with code 3" in text
            assert "bad config: tbroken" in text  # the docker: command ran, with its placeholders bound
            assert "hint:" in text
    finally:
        for tag in set(backend.images.values()):  # a throwaway target: do not keep its image
            engine.images.remove(tag)


VERSIONED_APP = """
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
history = os.path.join(sys.argv[2], "history")
with open(history, "a") as fh:  # every start leaves a line in {workdir}
    fh.write(os.environ["WEB_VERSION"] + "\\n")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = open(history, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""


def test_deploy_replaces_the_container_and_keeps_its_workdir(engine: DockerClient, tmp_path: Path) -> None:
    target_dir = write_target(
        tmp_path / "versioned",
        """\
        web:
          command: ["{python}", "app.py", "{port}", "{workdir}"]
          health: {http: /health}
          stop_signal: SIGINT
          version: v1
          versions:
            v1: {WEB_VERSION: v1}
            v2: {WEB_VERSION: v2}
        """,
    )
    (target_dir / "app.py").write_text(VERSIONED_APP)
    (target_dir / "docker" / "Dockerfile").write_text(
        "ARG BASE=aftershock-base:bookworm\nFROM ${BASE}\nWORKDIR /target\nCOPY app.py /target/\n"
    )
    backend = DockerBackend(load_target(target_dir), target_dir, tmp_path / "run", "tdeploy")
    try:
        with backend:
            backend.start("web", {})
            url = backend.entry_url("web") + "/health"
            assert requests.get(url, timeout=2).text.split() == ["v1"]
            backend.deploy("web", "v2")
            assert backend.version("web") == "v2"
            assert backend.entry_url("web") + "/health" == url
            assert requests.get(url, timeout=2).text.split() == ["v1", "v2"]  # same workdir, new version
            backend.deploy("web", "v1")  # the rollback
            assert requests.get(url, timeout=2).text.split() == ["v1", "v2", "v1"]
            assert len(engine.containers.list(all=True, filters={"label": "aftershock.run_id=tdeploy"})) == 1
        log = backend.log_path("web").read_text()
        assert [line.split("version ")[1][:2] for line in log.splitlines() if "starting web" in line] == [
            "v1",
            "v2",
            "v1",
        ]
    finally:
        throw_away_images(engine, target_dir)


def test_a_service_without_an_image_is_reported_before_anything_starts(tmp_path: Path) -> None:
    target_dir = write_target(
        tmp_path / "noimage",
        """\
        web:
          command: ["{python}", "web.py"]
          health: {http: /health}
          docker: {dockerfile: docker/Dockerfile.missing}
        """,
    )
    with pytest.raises(ScenarioError) as info:
        DockerBackend(load_target(target_dir), target_dir, tmp_path / "run", "tnoimage")
    assert "services.web" in str(info.value) and "Dockerfile.missing" in str(info.value)


def test_no_engine_is_an_infrastructure_error_that_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    with pytest.raises(InfrastructureError) as info:
        DockerBackend(load_target(GROUNDTRUTH), GROUNDTRUTH, tmp_path, "tnoengine")
    assert info.value.exit_code == 3
    assert "scripts/ensure-docker.sh" in str(info.value)

    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep tried to reach an engine whose socket does not exist")

    # at once: not even a connection attempt (was: a wall-clock bound of 0.5 s)
    monkeypatch.setattr("harness.docker.sweep.docker_client", no_connection)
    assert sweep_docker() == []


# -- images ---------------------------------------------------------------------------------
def test_images_are_cached_by_content(
    engine: DockerClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = DockerBackend(load_target(GROUNDTRUTH), GROUNDTRUTH, tmp_path / "a", "tcache1")
    first.build_images()
    capsys.readouterr()
    again = DockerBackend(load_target(GROUNDTRUTH), GROUNDTRUTH, tmp_path / "b", "tcache2")
    again.build_images()
    assert "building" not in capsys.readouterr().err, "an unchanged target must not be rebuilt"
    assert again.images == first.images
    # one Dockerfile for both services: one image
    assert first.images["app"] == first.images["dep"]
    # another checkout of the same target (a second clone, another CI workspace) builds its edit
    changed = tmp_path / "groundtruth"
    subprocess.run(["cp", "-r", str(GROUNDTRUTH), str(changed)], check=True)
    with (changed / "app.py").open("a") as fh:
        fh.write("\n# changed\n")
    edited = DockerBackend(load_target(changed), changed, tmp_path / "c", "tcache3")
    edited.build_images()
    assert edited.images["app"] != first.images["app"]

    def built() -> set[str]:
        return {
            t
            for image in listed(engine, name="aftershock-groundtruth")
            for t in image.tags
            if ":use-" not in t
        }

    ours = {edited.images["app"], f"aftershock-groundtruth:use-{checkout_id(str(changed))}"}
    try:
        assert first.images["app"] in built(), "another checkout's image must not be pruned (ping-pong)"
        with (changed / "app.py").open("a") as fh:
            fh.write("\n# changed again\n")
        edited_again = DockerBackend(load_target(changed), changed, tmp_path / "d", "tcache4")
        edited_again.build_images()
        ours.add(edited_again.images["app"])
        # this checkout's earlier build is pruned; the other checkout's stays
        now = built()
        assert edited.images["app"] not in now, "this checkout's earlier build is pruned"
        assert {first.images["app"], edited_again.images["app"]} <= now
    finally:  # what this test built; the real target's image stays for the next test
        for image in listed(engine, name="aftershock-groundtruth"):
            for tag in set(image.tags) & ours:
                engine.images.remove(tag)


# -- the backstop ---------------------------------------------------------------------------
HARNESS = """
import sys, time
from pathlib import Path
from tests.integration.test_docker_backend import running, GROUNDTRUTH
with running(GROUNDTRUTH, Path(sys.argv[1]), run_id=sys.argv[2]) as s:
    print("READY", s.url(), flush=True)
    time.sleep(300)
"""


def test_sweep_removes_what_a_sigkilled_harness_left(engine: DockerClient, tmp_path: Path) -> None:
    run_id = f"tkill{secrets.token_hex(3)}"
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path), run_id],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AFTERSHOCK_OFFLINE": os.environ.get("AFTERSHOCK_OFFLINE", "1")},
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not line.startswith("READY"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert line.startswith("READY"), f"the harness subprocess did not start: {line}{proc.stdout.read()}"
        url = line.split()[1]
        assert status(url + "/health") == 200
        mine = f"{RUN_LABEL}={run_id}"
        assert len(labelled(engine, mine)) == 4  # app, dep, toxiproxy, the network
        assert all(run_id not in r for r in sweep_docker())  # its owner is alive: not a leftover
        assert len(labelled(engine, mine)) == 4
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Nothing cleaned up after a SIGKILL until a sweep. Any run starting on this host sweeps
        # dead runs too and may come first (a parallel test, a colleague's run): what counts is
        # that the run's sweep leaves nothing, whoever removed what.
        removed = sweep_docker(run_id=run_id)
        assert all(run_id in r for r in removed), removed
        assert labelled(engine, mine) == []
        assert isinstance(status(url + "/health", timeout=1.0), str)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sweep_docker(run_id=run_id, include_live=True)


def test_a_zombie_owner_counts_as_dead() -> None:
    """A harness killed a moment ago may not be reaped yet; its leftovers are leftovers already."""
    child = subprocess.Popen(["sleep", "60"])
    token = owner_token(child.pid)
    try:
        assert owner_running(token)
        child.kill()
        deadline = time.monotonic() + 5
        while (
            time.monotonic() < deadline
            and Path(f"/proc/{child.pid}/stat").read_text().split(")")[1].split()[0] != "Z"
        ):
            time.sleep(0.01)
        assert not owner_running(token)
    finally:
        child.kill()
        child.wait(timeout=5)
    assert not owner_running(token)
