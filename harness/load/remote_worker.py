"""Start a Locust worker on another machine for a run whose scenario sets ``load.master``.

Run on the worker's machine, from the same aftershock checkout as the harness::

    python -m harness.load.remote_worker --master 10.0.0.5:7557 \\
        --locustfile targets/orders/locustfile.py --target-url http://10.0.0.5:8080

Why a launcher and not plain ``locust --worker``: the worker must run with
``AFTERSHOCK_REMOTE_WORKER=1`` (it then says hello to the master, answers its clock pings, hears
the stop and the load-layer faults over Locust's connection and sends its ledger back, see
:mod:`harness.load.remote`), and it must write its own shard to a fresh directory of this
machine. Everything else (rate per user, request timeout, seed) comes from the master.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from harness.load.remote import OFFSET_ENV, REMOTE_ENV


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m harness.load.remote_worker", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--master", required=True, help="HOST:PORT the run's Locust master listens on (load.master)"
    )
    p.add_argument(
        "--locustfile", required=True, type=Path, help="the target's locustfile, as on the harness"
    )
    p.add_argument(
        "--target-url",
        default="",
        help="where this machine reaches the target (default: the master's --host, often loopback there)",
    )
    p.add_argument(
        "--ledger-dir",
        type=Path,
        default=None,
        help="where this worker keeps its own copy of its shard (default: a fresh temporary directory)",
    )
    return p.parse_args(argv)


def command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The Locust worker's command line and environment."""
    host, sep, port = args.master.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f"--master {args.master!r}: expected HOST:PORT, e.g. 10.0.0.5:7557")
    if not args.locustfile.is_file():
        raise SystemExit(f"--locustfile {args.locustfile}: no such file")
    base = args.ledger_dir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    ledger_dir = Path(tempfile.mkdtemp(prefix="aftershock-worker-", dir=base))
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
    env.update({REMOTE_ENV: "1", "AFTERSHOCK_LEDGER_DIR": str(ledger_dir)})
    if args.target_url:
        env["AFTERSHOCK_TARGET_URL"] = args.target_url
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(args.locustfile.resolve()),
        "--worker",
        "--master-host",
        host.strip("[]"),
        "--master-port",
        port,
        "--loglevel",
        "WARNING",
    ]
    return cmd, env


def main(argv: list[str] | None = None) -> None:
    cmd, env = command(parse(sys.argv[1:] if argv is None else argv))
    if env.get(OFFSET_ENV):
        print(f"test hook: this worker's clock runs {env[OFFSET_ENV]} ns off", file=sys.stderr)
    print(f"aftershock remote worker: ledger copy in {env['AFTERSHOCK_LEDGER_DIR']}", file=sys.stderr)
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
