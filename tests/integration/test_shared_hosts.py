"""Runs sharing one host: ports, the load's master, signals at the edges of a run. Real processes."""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.load.runner import LoadProcess
from harness.scenario.loader import load_target
from harness.targets.process import ProcessBackend
from tests.conftest import REPO, leftovers
from tests.pg import current_user

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"
ORDERS = REPO / "targets" / "orders"


# -- helpers -----------------------------------------------------------------------------------
def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                addr, port = local.split(":")
                if width == 8:
                    host = socket.inet_ntoa(bytes.fromhex(addr)[::-1])
                else:
                    host = "::" if set(addr) == {"0"} else addr
                found.append((host, int(port, 16)))
    return found


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[2]) == pgid:
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def http_target() -> Iterator[str]:
    """A trivial HTTP service that answers 200 to everything (the load's target)."""

    class Ok(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- the load's master -------------------------------------------------------------------------
def test_two_distributed_loads_run_at_once_and_their_masters_listen_on_loopback_only(
    http_target: str, tmp_path: Path
) -> None:
    loads = [
        LoadProcess(
            locustfile=GROUNDTRUTH / "locustfile.py",
            host=http_target,
            users=2,
            spawn_rate=2.0,
            rate_per_user=5.0,
            request_timeout=1.0,
            workers=2,
            run_dir=tmp_path / name,
            run_id=f"tload-{secrets.token_hex(3)}",
            seed=1,
        )
        for name in ("a", "b")
    ]
    for load in loads:
        (load.run_dir).mkdir()
    with loads[0] as first, loads[1] as second:
        first.wait_ready(120)
        second.wait_ready(120)  # before: "Address already in use" on *:5557, exit 3
        for load in (first, second):
            assert load._proc is not None
            bound = [addr for pid in group_pids(load._proc.pid) for addr in listening(pid)]
            assert bound, "the Locust master listens for its workers"
            assert {host for host, _port in bound} == {"127.0.0.1"}, bound
            assert all(port != 5557 for _host, port in bound)


# -- the free-port-then-bind race --------------------------------------------------------------
def test_a_service_whose_port_was_taken_is_started_once_the_port_is_free(tmp_path: Path) -> None:
    events: list[str] = []
    backend = ProcessBackend(
        load_target(GROUNDTRUTH),
        GROUNDTRUTH,
        tmp_path,
        f"tport-{secrets.token_hex(3)}",
        emit=lambda event, **fields: events.append(event),
    )
    port = backend.ports["dep"]
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", port))  # another process takes the port between choice and bind
    squatter.listen()
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            backend.start("dep", {})
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    starter = threading.Thread(target=start)
    try:
        starter.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not outcome and "service_port_busy" not in events:
            time.sleep(0.05)
        # before: the TCP health check reached the squatter and passed; the service had died
        assert outcome == [], f"the start did not wait for its port: {outcome}"
        squatter.close()  # the holder goes away; the start must now succeed on the same port
        starter.join(timeout=60)
        assert outcome == [None], outcome
        pid = backend.pid("dep")
        assert pid is not None and ("127.0.0.1", port) in listening(pid)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"ping\n")
            assert conn.recv(16).startswith(b"pong")
    finally:
        squatter.close()
        starter.join(timeout=60)
        backend.stop_all()
    assert leftovers(backend.run_id) == []


# -- signals at the edges of a run -------------------------------------------------------------
def test_sigterm_while_the_index_is_written_ends_with_130(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "zz-blocked").mkdir(parents=True)
    os.mkfifo(out / "zz-blocked" / "results.json")  # the index blocks reading it: a slow disk, forever
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "short",
                "target": {"name": str(GROUNDTRUTH), "env": {"app": {"GT_RECOVERY_DELAY": "0"}}},
                "load": {"users": 2, "rate_per_user": 10, "duration": "4s", "request_timeout": "1s"},
                "slo": {"window": "1s", "step": "100ms", "hold": "1s"},
                "faults": [{"kind": "down", "link": "app->dep", "at": "1s", "duration": "1s"}],
                "expect": {"recovered": True},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = ""
        for line in proc.stdout:  # the last line before the index is written
            seen += line
            if line.startswith("report:"):
                break
        assert "report:" in seen, seen + (proc.stderr.read() if proc.stderr else "")
        time.sleep(0.5)
        assert proc.poll() is None, "the index must still be being written"
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, seen + rest + err)
    assert "Traceback" not in err


# -- the engine's launcher ---------------------------------------------------------------------
def test_the_engine_is_launched_without_the_callers_descriptors(tmp_path: Path) -> None:
    """A CI step holding a flock'd lock starts the engine; the lock must be free once the step ends."""
    lock_path = tmp_path / "ci-step.lock"
    report = tmp_path / "daemon.pid"
    daemon = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        step = subprocess.run(
            [
                "bash",
                "-c",
                'source scripts/ensure-docker.sh && launch_detached "$1" "$2" -c "$3" "$4"',
                "ensure-docker",
                str(tmp_path / "daemon.log"),
                sys.executable,
                daemon,
                str(report),
            ],
            cwd=REPO,
            pass_fds=(lock.fileno(),),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert step.returncode == 0, step.stderr
    # the step is over and has let go of its lock; the daemon runs on
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (report.exists() and report.read_text()):
        time.sleep(0.05)
    pid = int(report.read_text())
    try:
        assert sorted(int(fd.name) for fd in Path(f"/proc/{pid}/fd").iterdir()) == [0, 1, 2]
        assert os.getsid(pid) == pid  # its own session: it outlives the step
        with lock_path.open("w") as again:
            fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)  # before: BlockingIOError, held by the daemon
    finally:
        os.kill(pid, signal.SIGKILL)


# -- the embedded database -----------------------------------------------------------------------
def test_the_orders_database_wants_the_runs_password(tmp_path: Path) -> None:
    """Before: trust on 127.0.0.1, so any local user was superuser for the length of a run."""
    backend = ProcessBackend(load_target(ORDERS), ORDERS, tmp_path, f"tpg-{secrets.token_hex(3)}")
    port = backend.ports["db"]

    try:
        backend.start("db", {})
        assert current_user("127.0.0.1", port, None).startswith("refused"), "no password: no entry"
        assert current_user("127.0.0.1", port, "guess").startswith("refused")
        assert current_user("127.0.0.1", port, backend.secret) == "postgres"
        cmdline = Path(f"/proc/{backend.pid('db')}/cmdline").read_bytes()
        assert backend.secret.encode() not in cmdline  # never on a command line (world-readable)
        if os.geteuid() == 0:  # as root it runs from a shared copy, which must not be swept meanwhile
            _assert_holds_its_copy(backend.pid("db"))
    finally:
        backend.stop_all()
    assert leftovers(backend.run_id) == []


def _assert_holds_its_copy(pid: int | None) -> None:
    """The postmaster keeps the shared lock on the pginstall copy it runs from (db.py), so the
    sweep leaves the copy alone while it runs (before: nothing held, the sweep could not tell)."""
    from harness import reaper

    exe = Path(os.readlink(f"/proc/{pid}/exe"))
    copy = next(p for p in exe.parents if p.name.startswith(reaper.PGINSTALL_PREFIX))
    held = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    assert str(copy / reaper.IN_USE_FILE) in held
    assert copy not in {w.path for w in reaper.doomed_shared_dirs()}


# -- two sweeps at once, on a real engine --------------------------------------------------------
@pytest.mark.docker
def test_two_cleanups_at_once_both_succeed(tmp_path: Path) -> None:
    """Before: one of them met Docker's 409 "removal already in progress" and died with an
    ExceptionGroup traceback, exit 1."""
    from harness.docker import toxiproxy_image
    from harness.docker.engine import run_labels
    from harness.errors import InfrastructureError
    from harness.reaper import owner_token
    from harness.toxiproxy.provision import find_toxiproxy

    try:
        from harness.docker.engine import docker_client

        client = docker_client()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers:\n{exc}")
        pytest.skip(f"no Docker engine: {str(exc).splitlines()[0]}")
    image = toxiproxy_image.toxiproxy_image(client, find_toxiproxy(), {})  # tiny, built once (scratch)
    child = subprocess.Popen(["sleep", "30"])
    dead = owner_token(child.pid)
    child.kill()
    child.wait()
    run_id = f"trace{secrets.token_hex(3)}"
    labels = run_labels(run_id, dead)
    try:
        network = client.networks.create(f"aftershock-{run_id}", labels=labels)
        for n in range(8):
            client.containers.create(
                image, name=f"aftershock-{run_id}-{n}", labels=labels, network=network.name
            )
        cleanups = [
            subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "cleanup", "--run", run_id],
                cwd=REPO,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outcomes = [(c.wait(timeout=120), *c.communicate()) for c in cleanups]
        for code, out, err in outcomes:
            assert code == 0, out + err
            assert "Traceback" not in err
        removed = sum(out.count(f"removed container aftershock-{run_id}") for _code, out, _err in outcomes)
        assert removed <= 8  # each container removed by one of them, none reported twice as removed
        left = client.containers.list(all=True, filters={"label": f"aftershock.run_id={run_id}"})
        assert left == [] and client.networks.list(filters={"label": f"aftershock.run_id={run_id}"}) == []
    finally:
        from harness.docker.sweep import sweep_docker

        sweep_docker(run_id=run_id, include_live=True)
        client.close()


# -- base-image builds: their scratch directory never outlives them ------------------------------
BUILDER = """
import subprocess, sys
from harness.docker import base
with base._build_dir() as path:
    proc = path / "rootfs" / "proc"
    proc.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "aftershock-test", str(proc)], check=True)
    (proc / "busy").write_text("as debootstrap leaves /proc mounted when it is killed")
    print(path, flush=True)
    if sys.argv[1] == "fail":
        raise SystemExit("the build failed")
    sys.stdin.read()  # until killed
"""


def _mounted_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    return [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines() if prefix in ln]


def test_a_failed_base_build_removes_its_directory_and_the_mounts_in_it() -> None:
    """Before: a TemporaryDirectory, whose removal walked into debootstrap's mounts and gave up."""
    proc = subprocess.run(
        [sys.executable, "-c", BUILDER, "fail"], capture_output=True, text=True, timeout=60, check=False
    )
    path = Path(proc.stdout.strip())
    assert proc.returncode == 1 and "the build failed" in proc.stderr, proc.stderr
    assert path.name.startswith("aftershock-base-")
    assert not path.exists() and _mounted_under(path) == []


def test_the_directory_of_a_sigkilled_base_build_is_swept_not_a_live_one() -> None:
    from harness import reaper

    builder = subprocess.Popen(
        [sys.executable, "-c", BUILDER, "hang"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert builder.stdout is not None
    path = Path(builder.stdout.readline().strip())
    try:
        assert path.is_dir()
        assert path not in {w.path for w in reaper.doomed_shared_dirs()}, "a live build is not swept"
        builder.kill()
        builder.wait(timeout=10)
        (doomed,) = [w for w in reaper.doomed_shared_dirs() if w.path == path]
        removal = reaper.remove_workdirs([doomed])
        assert removal.removed == [path] and removal.errors == []
        assert not path.exists() and _mounted_under(path) == []
    finally:
        builder.kill()
        for point in _mounted_under(path):
            subprocess.run(["umount", "-l", point], check=False)
        subprocess.run(["rm", "-rf", str(path)], check=False)
