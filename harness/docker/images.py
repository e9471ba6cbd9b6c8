"""Images for the Docker backend, without depending on a registry.

Three kinds, each built at most once and then found by tag:

* **the base image** - ``$AFTERSHOCK_BASE_IMAGE`` (default ``python:3.11-slim``). If it is not
  present locally it is pulled, unless ``AFTERSHOCK_OFFLINE=1``; if pulling fails or is not
  allowed, :data:`LOCAL_BASE` is built once with ``debootstrap`` from Debian's package mirror
  and ``docker import``-ed. Nothing else in the harness ever talks to a registry.
* **service images** - built from Dockerfiles under the target (``docker/Dockerfile.<service>``,
  else ``docker/Dockerfile``) with ``ARG BASE`` set to the base image. The tag is a content hash
  of the build context, the Dockerfile and the base image's id, so an unchanged target is never
  rebuilt and a changed one always is.
* **the Toxiproxy image** - the cached static ``toxiproxy-server`` binary on ``scratch``.

Several checkouts may share one engine (CI runners, a developer's two clones). Every build is
labelled with the identity of the checkout it came from (:data:`CHECKOUT_LABEL`: this host and
the build context's directory), and each checkout pins the image it uses with a tag
``<repository>:use-<checkout>``. After a build only images that *this* checkout built and that
no checkout pins any more are pruned: two checkouts never rebuild each other's images in turn.

Build contexts are assembled here (not by the SDK) so that they can carry the host's CA bundle
as ``.aftershock/pip-ca.crt``: where TLS to the package index is intercepted by a local CA, pip
inside a build only works with the host's bundle. Progress goes to stderr with build times.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import InfrastructureError
from harness.files import cache_dir
from harness.toxiproxy.provision import TOXIPROXY_VERSION

if TYPE_CHECKING:
    from docker import DockerClient

BASE_IMAGE_VAR = "AFTERSHOCK_BASE_IMAGE"
OFFLINE_VAR = "AFTERSHOCK_OFFLINE"
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "aftershock-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR_VAR = "AFTERSHOCK_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
CA_IN_CONTEXT = ".aftershock/pip-ca.crt"
# Bumped when the way images are built changes (context, hashing, labels), so old tags are not reused.
CONTEXT_FORMAT = "aftershock-context-v2"
IGNORED_NAMES = frozenset({"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"})

CHECKOUT_LABEL = "aftershock.checkout"
PIN_PREFIX = "use-"

BUILD_TIMEOUT = 1200.0  # a build or import: debootstrap output, apt and pip downloads
DEBOOTSTRAP_TIMEOUT = 1200.0


def progress(message: str) -> None:
    print(f"aftershock: {message}", file=sys.stderr, flush=True)


def offline() -> bool:
    return os.environ.get(OFFLINE_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _has_image(client: DockerClient, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one image across concurrent runs on this machine (a file lock)."""
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the base image ------------------------------------------------------------------------
def base_image(client: DockerClient) -> str:
    """The base image tag to build service images on, making it available if it is not.

    Order: the configured image if present locally; else a pull (unless offline); else the
    locally built :data:`LOCAL_BASE`.
    """
    wanted = os.environ.get(BASE_IMAGE_VAR, "").strip() or DEFAULT_BASE
    if _has_image(client, wanted):
        return wanted
    if wanted == LOCAL_BASE:
        return build_local_base(client)
    if offline():
        if not _has_image(client, LOCAL_BASE):
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
    if _has_image(client, tag):
        return tag
    with _build_lock("base-" + tag.replace(":", "-").replace("/", "-")):
        if _has_image(client, tag):  # another run built it while we waited
            return tag
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
        mirror = os.environ.get(DEBIAN_MIRROR_VAR, "").strip() or DEFAULT_MIRROR
        progress(f"building the base image {tag} with debootstrap from {mirror} (once; about a minute)")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="aftershock-base-", dir="/var/tmp") as tmp:
            root = Path(tmp) / "rootfs"
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
            _trim_rootfs(root)
            archive = Path(tmp) / "rootfs.tar"
            tar = subprocess.run(
                ["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if tar.returncode != 0:
                raise InfrastructureError(f"packing the base rootfs failed: {tar.stderr[-1000:]}")
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
        if not _has_image(client, tag):
            raise InfrastructureError(f"docker import did not produce {tag}")
        progress(f"base image {tag} built in {time.monotonic() - started:.1f}s")
        return tag


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


# -- build contexts ------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """A build context: files by their path inside the context, and the Dockerfile's path."""

    files: dict[str, tuple[bytes, int]]  # path -> (content, mode)
    dockerfile: str
    source: str = ""  # the directory it was read from (its checkout); not part of the digest

    def digest(self, *extra: str) -> str:
        h = hashlib.sha256(CONTEXT_FORMAT.encode())
        h.update(f"\0dockerfile={self.dockerfile}".encode())
        for item in extra:
            h.update(f"\0{item}".encode())
        for path in sorted(self.files):
            content, mode = self.files[path]
            h.update(f"\0{path}\0{mode & 0o111:o}\0".encode())
            h.update(hashlib.sha256(content).digest())
        return h.hexdigest()

    def tar(self) -> io.BytesIO:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path in sorted(self.files):
                content, mode = self.files[path]
                info = tarfile.TarInfo(path)
                info.size = len(content)
                info.mode = mode & 0o7777
                info.mtime = 0  # reproducible: only content matters
                tar.addfile(info, io.BytesIO(content))
        buf.seek(0)
        return buf


def host_ca_bundle() -> bytes:
    """The CA bundle the host trusts for TLS (pip's, then OpenSSL's), or nothing."""
    candidates = [
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            with contextlib.suppress(OSError):
                return Path(candidate).read_bytes()
    return b""


def directory_context(root: Path, dockerfile: Path) -> Context:
    """Every file under ``root`` plus the host CA bundle.

    Left out: caches and VCS directories, and the *other* Dockerfiles of the target, so that
    editing one service's Dockerfile does not change (and rebuild) every other service's image.
    """
    files: dict[str, tuple[bytes, int]] = {}
    chosen = dockerfile.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_NAMES)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.endswith((".pyc", ".pyo")) or not path.is_file():
                continue
            if name.startswith("Dockerfile") and path.resolve() != chosen:
                continue
            rel = path.relative_to(root).as_posix()
            files[rel] = (path.read_bytes(), path.stat().st_mode)
    files[CA_IN_CONTEXT] = (host_ca_bundle(), 0o644)
    try:
        rel_dockerfile = dockerfile.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise InfrastructureError(
            f"the Dockerfile {dockerfile} must be inside the build context {root}"
        ) from None
    return Context(files, rel_dockerfile, str(root.resolve()))


def checkout_id(source: str = "") -> str:
    """Who builds: this host and the directory the build context comes from (for contexts made
    in memory, the harness's own checkout). Short enough for a tag."""
    where = source or str(Path(__file__).resolve().parents[2])
    return hashlib.sha256(f"{socket.gethostname()}\0{where}".encode()).hexdigest()[:12]


def build(
    client: DockerClient,
    context: Context,
    repository: str,
    *,
    base: str | None,
    labels: dict[str, str],
    what: str,
) -> str:
    """Build ``context`` as ``repository:<hash>`` unless that tag exists; return the tag.

    Either way this checkout's pin moves to it; after a build, what this checkout built before
    and nobody pins any more is pruned.
    """
    base_id = client.images.get(base).id if base else "none"
    tag = f"{repository}:{context.digest(f'base={base_id}')[:16]}"
    checkout = checkout_id(context.source)
    if _has_image(client, tag):
        _pin(client, repository, tag, checkout)
        return tag
    from docker.errors import BuildError, DockerException
    from requests import RequestException

    with _build_lock(tag.replace(":", "-").replace("/", "-")):
        if _has_image(client, tag):
            _pin(client, repository, tag, checkout)
            return tag
        progress(f"building {what} image {tag}" + (f" on {base}" if base else ""))
        started = time.monotonic()
        try:
            client.images.build(
                fileobj=context.tar(),
                custom_context=True,
                dockerfile=context.dockerfile,
                tag=tag,
                buildargs={"BASE": base} if base else {},
                labels={**labels, "aftershock.image": what, CHECKOUT_LABEL: checkout},
                rm=True,
                forcerm=True,
                pull=False,
                timeout=int(BUILD_TIMEOUT),
            )
        except BuildError as exc:
            lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in exc.build_log]
            tail = "\n".join("    | " + line for line in [ln for ln in lines if ln][-20:])
            raise InfrastructureError(
                f"building {what} image {tag} from {context.dockerfile} failed: {exc.msg}\n{tail}"
            ) from None
        except (DockerException, RequestException) as exc:
            raise InfrastructureError(f"building {what} image {tag} failed: {first_line(exc)}") from None
        progress(f"built {tag} in {time.monotonic() - started:.1f}s")
        _pin(client, repository, tag, checkout)
        _prune_older(client, repository, tag, checkout)
    return tag


def _pin(client: DockerClient, repository: str, tag: str, checkout: str) -> None:
    """Point ``repository:use-<checkout>`` at ``tag``: this checkout uses that image now."""
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):
        client.api.tag(tag, repository, f"{PIN_PREFIX}{checkout}", force=True)


def prunable(tags: list[str], labels: dict[str, str], repository: str, keep: str, checkout: str) -> list[str]:
    """The tags of one image that this checkout may remove: it built the image, it is not
    ``keep``, and no checkout pins it (a pin of another checkout means that one still uses it)."""
    mine = [t for t in tags if t.rpartition(":")[0] == repository]
    if keep in mine or labels.get(CHECKOUT_LABEL) != checkout:
        return []
    if any(t.rpartition(":")[2].startswith(PIN_PREFIX) for t in mine):
        return []
    return mine


def _prune_older(client: DockerClient, repository: str, keep: str, checkout: str) -> None:
    """Remove what this checkout built of ``repository`` earlier and nobody uses any more.

    Best effort: an image a container still uses is left alone (Docker refuses). Layers shared
    with ``keep`` stay, so this mostly keeps ``docker images`` readable.
    """
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):
        for image in client.images.list(name=repository):
            for old in prunable(list(image.tags), dict(image.labels or {}), repository, keep, checkout):
                with contextlib.suppress(DockerException):
                    client.images.remove(old)


# -- the Toxiproxy image -------------------------------------------------------------------
TOXIPROXY_API_PORT = 8474
_TOXIPROXY_DOCKERFILE = """\
ARG BASE=scratch
FROM ${BASE}
COPY toxiproxy-server /toxiproxy-server
EXPOSE 8474
ENTRYPOINT ["/toxiproxy-server"]
"""


def is_static_elf(path: Path) -> bool:
    """True if ``path`` is an ELF executable with no program interpreter (needs no libc)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # 64-bit little-endian only
                return False
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # PT_INTERP


def toxiproxy_image(client: DockerClient, binary: Path, labels: dict[str, str]) -> str:
    """An image running ``binary``: on ``scratch`` if it is static (ours is), else on the base."""
    base = None if is_static_elf(binary) else base_image(client)
    context = Context(
        {
            "Dockerfile": (_TOXIPROXY_DOCKERFILE.encode(), 0o644),
            "toxiproxy-server": (binary.read_bytes(), 0o755),
        },
        "Dockerfile",
    )
    return build(
        client,
        context,
        f"aftershock-toxiproxy-{TOXIPROXY_VERSION}",
        base=base,
        labels=labels,
        what="toxiproxy",
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def repository_for(target: str, dockerfile: Path) -> str:
    """``aftershock-<target>[-<suffix>]`` from ``Dockerfile[.<suffix>]`` (lowercase, as Docker wants)."""
    _, _, suffix = dockerfile.name.partition(".")
    raw = f"aftershock-{target}" + (f"-{suffix}" if suffix else "")
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in raw.lower())
