"""The base image every service image is built on, made available without a registry if need be.

``$AFTERSHOCK_BASE_IMAGE`` (default ``python:3.11-slim``) if the engine has it; else a pull
(unless ``AFTERSHOCK_OFFLINE=1``); else :data:`LOCAL_BASE`, built once with ``debootstrap`` from
Debian's package mirror and ``docker import``-ed. Builds of it are serialised across runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness import reaper
from harness.docker.images import OFFLINE_VAR, build_lock, first_line, has_image, offline, progress
from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from docker import DockerClient

BASE_IMAGE_VAR = "AFTERSHOCK_BASE_IMAGE"
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "aftershock-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR_VAR = "AFTERSHOCK_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
DEBOOTSTRAP_TIMEOUT = 1200.0


def base_image(client: DockerClient) -> str:
    """The base image tag to build service images on, making it available if it is not.

    Order: the configured image if present locally; else a pull (unless offline); else the
    locally built :data:`LOCAL_BASE`.
    """
    wanted = os.environ.get(BASE_IMAGE_VAR, "").strip() or DEFAULT_BASE
    if has_image(client, wanted):
        return wanted
    if wanted == LOCAL_BASE:
        return build_local_base(client)
    if offline():
        if not has_image(client, LOCAL_BASE):
            progress(f"{OFFLINE_VAR}=1: not pulling {wanted}; building the local base {LOCAL_BASE} instead")
        return build_local_base(client)
    from docker.errors import DockerException
    from requests import RequestException

    progress(f"pulling base image {wanted} (set {OFFLINE_VAR}=1 to never pull)")
    started = time.monotonic()
    try:
        client.images.pull(wanted)  # the SDK splits name, tag and digest itself
    except (DockerException, RequestException) as exc:
        progress(f"pulling {wanted} failed ({first_line(exc)}); using the local base {LOCAL_BASE}")
        return build_local_base(client)
    progress(f"pulled {wanted} in {time.monotonic() - started:.1f}s")
    return wanted


def build_local_base(client: DockerClient, tag: str = LOCAL_BASE) -> str:
    """Build ``tag`` from Debian packages with debootstrap and ``docker import`` (once; cached).

    Needs root and ``debootstrap`` (``apt-get install -y debootstrap``) and Debian's mirror
    (``$AFTERSHOCK_DEBIAN_MIRROR``, default deb.debian.org over plain HTTP; packages are verified
    with the keyring, not by the transport).
    """
    if has_image(client, tag):
        return tag
    with build_lock("base-" + tag.replace(":", "-").replace("/", "-")):
        if has_image(client, tag):  # another run built it while we waited
            return tag
        debootstrap = _debootstrap_here(tag)
        mirror = os.environ.get(DEBIAN_MIRROR_VAR, "").strip() or DEFAULT_MIRROR
        progress(f"building the base image {tag} with debootstrap from {mirror} (once; about a minute)")
        started = time.monotonic()
        with _build_dir() as tmp:
            root = tmp / "rootfs"
            _debootstrap(debootstrap, root, mirror)
            _trim_rootfs(root)
            archive = tmp / "rootfs.tar"
            _pack_rootfs(root, archive)
            _import_rootfs(client, archive, tag)
        if not has_image(client, tag):
            raise InfrastructureError(f"docker import did not produce {tag}")
        progress(f"base image {tag} built in {time.monotonic() - started:.1f}s")
        return tag


@contextlib.contextmanager
def _build_dir() -> Iterator[Path]:
    """A scratch directory in :data:`~harness.reaper.SHARED_TMP` (a rootfs is ~400 MB; ``/tmp``
    may be RAM), marked with this builder, removed on every way out: debootstrap's mounts
    (``/proc``, ``/sys`` in the rootfs, left by a killed debootstrap) first, so removing never
    walks into them. After a SIGKILL of the builder, :mod:`harness.reaper`'s sweep does the same."""
    path = Path(tempfile.mkdtemp(prefix=reaper.BUILD_PREFIX, dir=reaper.SHARED_TMP))
    try:
        reaper.mark_owner(path, reaper.BUILD_OWNER)
        yield path
    finally:
        problems = reaper.remove_shared_dir(reaper.Workdir(path, reaper.BUILD_OWNER, "", "build"))
        if problems:
            progress(
                f"could not remove the build directory {path} ({problems[0]}); `aftershock cleanup` will"
            )


def _debootstrap_here(tag: str) -> str:
    """The debootstrap program, when it can run (installed, and we are root); else say how."""
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.access("/usr/sbin/debootstrap", os.X_OK) else None
    )
    if debootstrap is None or os.geteuid() != 0:
        raise InfrastructureError(
            f"the base image {tag} is missing and cannot be built here "
            f"({'debootstrap is not installed' if debootstrap is None else 'building it needs root'}).\n"
            "  fix: as root, `apt-get install -y debootstrap` (scripts/ensure-docker.sh does it), or\n"
            f"       set {BASE_IMAGE_VAR} to a local image that has python3 (see `docker images`)"
        )
    return debootstrap


def _debootstrap(debootstrap: str, root: Path, mirror: str) -> None:
    """A minimal Debian with :data:`BASE_PACKAGES` in ``root``."""
    cmd = [
        debootstrap,
        "--variant=minbase",
        "--include=" + ",".join(BASE_PACKAGES),
        DEBIAN_SUITE,
        str(root),
        mirror,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(
            f"debootstrap took over {DEBOOTSTRAP_TIMEOUT:g}s; check the mirror {mirror}"
        ) from None
    if proc.returncode != 0:
        raise InfrastructureError(
            f"debootstrap failed ({' '.join(cmd)}):\n{(proc.stdout + proc.stderr)[-2000:]}\n"
            f"  hint: set {DEBIAN_MIRROR_VAR} to a reachable Debian mirror"
        )


def _pack_rootfs(root: Path, archive: Path) -> None:
    """``root`` as a tar with numeric owners, as ``docker import`` wants it."""
    tar = subprocess.run(
        ["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if tar.returncode != 0:
        raise InfrastructureError(f"packing the base rootfs failed: {tar.stderr[-1000:]}")


def _import_rootfs(client: DockerClient, archive: Path, tag: str) -> None:
    """``docker import`` the rootfs as ``tag``, with a usable PATH, locale and shell."""
    repo, _, version = tag.rpartition(":")
    client.api.import_image_from_file(
        str(archive),
        repository=repo,
        tag=version,
        changes=[
            "ENV LANG=C.UTF-8",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            'CMD ["/bin/bash"]',
            "LABEL aftershock.image=base",
        ],
    )


def _trim_rootfs(root: Path) -> None:
    """Drop downloaded .debs and apt lists (smaller image), and keep services from auto-starting."""
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        d = root / sub
        if d.is_dir():
            for entry in d.iterdir():
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
    # Package scripts must not start daemons inside image builds (Debian's convention).
    rc = root / "usr/sbin/policy-rc.d"
    rc.write_text("#!/bin/sh\nexit 101\n")
    rc.chmod(0o755)
