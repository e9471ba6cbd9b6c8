"""Images for the Docker backend, without depending on a registry.

Three kinds, each built at most once and then found by tag:

* **the base image** - ``$AFTERSHOCK_BASE_IMAGE`` (default ``python:3.11-slim``). If it is not
  present locally it is pulled, unless ``AFTERSHOCK_OFFLINE=1``; if pulling fails or is not
  allowed, :data:`~harness.docker.base.LOCAL_BASE` is built once with ``debootstrap`` from
  Debian's package mirror and ``docker import``-ed (see :mod:`harness.docker.base`). Nothing
  else in the harness ever talks to a registry.
* **service images** - built from Dockerfiles under the target (``docker/Dockerfile.<service>``,
  else ``docker/Dockerfile``) with ``ARG BASE`` set to the base image. The tag is a content hash
  of the build context, the Dockerfile and the base image's id, so an unchanged target is never
  rebuilt and a changed one always is.
* **the Toxiproxy image** - the cached static ``toxiproxy-server`` binary on ``scratch``
  (see :mod:`harness.docker.toxiproxy_image`).

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
import socket
import ssl
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InfrastructureError
from harness.files import cache_dir

if TYPE_CHECKING:
    from docker import DockerClient

OFFLINE_VAR = "AFTERSHOCK_OFFLINE"
CA_IN_CONTEXT = ".aftershock/pip-ca.crt"
# Bumped when the way images are built changes (context, hashing, labels), so old tags are not reused.
CONTEXT_FORMAT = "aftershock-context-v2"
IGNORED_NAMES = frozenset({"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"})

CHECKOUT_LABEL = "aftershock.checkout"
PIN_PREFIX = "use-"

BUILD_TIMEOUT = 1200.0  # a build or import: debootstrap output, apt and pip downloads


def progress(message: str) -> None:
    print(f"aftershock: {message}", file=sys.stderr, flush=True)


def offline() -> bool:
    return os.environ.get(OFFLINE_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def has_image(client: DockerClient, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one image across concurrent runs on this machine (a file lock)."""
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
    if has_image(client, tag):
        _pin(client, repository, tag, checkout)
        return tag
    from docker.errors import BuildError, DockerException
    from requests import RequestException

    with build_lock(tag.replace(":", "-").replace("/", "-")):
        if has_image(client, tag):
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


@dataclass(frozen=True)
class ListedImage:
    id: str
    tags: list[str]
    labels: dict[str, str]


def listed(client: DockerClient, **query: Any) -> list[ListedImage]:
    """The engine's image list in one call (``GET /images/json``), as it stood then.

    Not the SDK's ``images.list``: that inspects every image afterwards, one call each, and an
    image another run or checkout removes in between (a sweep or a prune beside this one) makes
    the whole listing fail with "no such image"."""
    rows: list[dict[str, Any]] = client.api.images(**query)
    return [
        ListedImage(
            id=str(row["Id"]),
            tags=[t for t in row.get("RepoTags") or [] if t != "<none>:<none>"],
            labels=dict(row.get("Labels") or {}),
        )
        for row in rows
    ]


def _prune_older(client: DockerClient, repository: str, keep: str, checkout: str) -> None:
    """Remove what this checkout built of ``repository`` earlier and nobody uses any more.

    Best effort: an image a container still uses is left alone (Docker refuses). Layers shared
    with ``keep`` stay, so this mostly keeps ``docker images`` readable.
    """
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):
        for image in listed(client, name=repository):
            for old in prunable(image.tags, image.labels, repository, keep, checkout):
                with contextlib.suppress(DockerException):
                    client.images.remove(old)


# -- images nobody will use again -----------------------------------------------------------
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
RUN_PROJECT_PREFIX = "aftershock-"  # a run's Compose project (harness.compose.cli.project_name)


def _image_id(client: DockerClient, tag: str) -> str | None:
    from docker.errors import DockerException

    try:
        return str(client.images.get(tag).id)
    except DockerException:
        return None


@contextlib.contextmanager
def replacing(client: DockerClient, tags: list[str]) -> Iterator[None]:
    """Around a build that re-tags ``tags`` (Compose's stable image names): the images it leaves
    untagged are removed after it, instead of piling up as ``<none>`` (one per service per run:
    the run's project label alone makes each build a new image). An image still tagged elsewhere
    or used by a container is refused by Docker and stays."""
    from docker.errors import DockerException

    before = {tag: _image_id(client, tag) for tag in tags}
    yield
    for tag, old in before.items():
        if old is not None and _image_id(client, tag) != old:
            with contextlib.suppress(DockerException):
                client.images.remove(old)


def dangling_run_builds(client: DockerClient, project: str | None = None) -> list[tuple[str, str]]:
    """``(image id, project)`` of untagged images built for a run's Compose project (``project``
    only, if given) that no container uses: nobody can start them again."""
    found: list[tuple[str, str]] = []
    for image in listed(client, filters={"dangling": True, "label": COMPOSE_PROJECT_LABEL}):
        owner = str(image.labels.get(COMPOSE_PROJECT_LABEL, ""))
        if owner.startswith(RUN_PROJECT_PREFIX) and (project is None or owner == project):
            found.append((str(image.id), owner))
    if not found:  # the usual case at a run's start: no second listing of the engine
        return []
    used = {c.attrs.get("Image") for c in client.containers.list(all=True, ignore_removed=True)}
    return [(image_id, owner) for image_id, owner in found if image_id not in used]


def remove_built_by(client: DockerClient, source: str) -> list[str]:
    """Remove what the checkout at ``source`` built and pinned: for throwaway checkouts (a test's
    temporary target). Its pins go; an image it built goes with all its tags unless another
    checkout pins it. Returns the tags removed."""
    from docker.errors import DockerException

    checkout = checkout_id(source)
    pin = f"{PIN_PREFIX}{checkout}"
    removed: list[str] = []
    for image in listed(client):
        tags = image.tags
        ours = [t for t in tags if t.rpartition(":")[2] == pin]
        built = image.labels.get(CHECKOUT_LABEL) == checkout
        others = [t for t in tags if t.rpartition(":")[2].startswith(PIN_PREFIX) and t not in ours]
        for tag in tags if built and not others else ours:
            with contextlib.suppress(DockerException):
                client.images.remove(tag)
                removed.append(tag)
    return removed


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def repository_for(target: str, dockerfile: Path) -> str:
    """``aftershock-<target>[-<suffix>]`` from ``Dockerfile[.<suffix>]`` (lowercase, as Docker wants)."""
    _, _, suffix = dockerfile.name.partition(".")
    raw = f"aftershock-{target}" + (f"-{suffix}" if suffix else "")
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in raw.lower())
