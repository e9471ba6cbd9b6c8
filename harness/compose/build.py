"""Building a Compose project's images on a machine with no registry.

Two things a newcomer's first Compose build needs that Compose cannot give: the local base image
``aftershock-base:bookworm`` (built by :mod:`harness.docker.base`, never pulled) must exist before
a Dockerfile that says ``FROM aftershock-base:bookworm`` is built, and a build that tried a registry
while offline must say so (which service, that the machine is offline, and the fix) instead of
ending in BuildKit's ``dial tcp: lookup registry-1.docker.io ... no such host``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compose.cli import BUILD_TIMEOUT, ComposeCLI
from harness.docker.base import LOCAL_BASE, build_local_base
from harness.docker.images import OFFLINE_VAR, has_image, offline
from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from docker import DockerClient

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.I | re.M)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>\w+)=(?P<value>\S+)", re.I | re.M)
#: BuildKit's step that resolves a base image: ``#3 [front internal] load metadata for docker.io/...``.
_METADATA = re.compile(
    r"^#(?P<step>\d+) \[(?P<service>[^\]\s]+) internal\] load metadata for (?P<image>\S+)", re.M
)
#: What a failed registry lookup looks like (DNS, no route, refused, TLS, denied, not found).
_REGISTRY = re.compile(
    r"no such host|dial tcp|i/o timeout|connection refused|TLS handshake|server misbehaving|"
    r"failed to resolve source metadata|failed to do request|pull access denied|"
    r"network is unreachable|temporary failure in name resolution",
    re.I,
)


def dockerfile_bases(dockerfile: str) -> list[str]:
    """The images a Dockerfile builds ``FROM`` (its own stages and ``scratch`` left out; ``ARG``
    defaults declared before a ``FROM`` substituted)."""
    args = {m["name"]: m["value"].strip("\"'") for m in _ARG.finditer(dockerfile)}
    stages: set[str] = set()
    bases: list[str] = []
    for m in _FROM.finditer(dockerfile):
        image = re.sub(r"\$\{?(\w+)\}?", lambda a: args.get(a[1], a[0]), m["image"])
        if image.lower() not in stages and image != "scratch" and image not in bases:
            bases.append(image)
        if m["stage"]:
            stages.add(m["stage"].lower())
    return bases


def service_bases(services: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per service Compose builds (``compose config``'s ``build.context`` / ``dockerfile``), its bases.

    A Dockerfile that cannot be read is left to Compose, which says so in its own words."""
    out: dict[str, list[str]] = {}
    for name, svc in services.items():
        build = svc.get("build")
        if not isinstance(build, dict):
            continue
        text = build.get("dockerfile_inline")
        if not isinstance(text, str):
            path = Path(str(build.get("context", "."))) / str(build.get("dockerfile") or "Dockerfile")
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                continue
        out[name] = dockerfile_bases(text)
    return out


def local_bases_to_build(
    bases: Mapping[str, list[str]], have: Callable[[str], bool], local: str = LOCAL_BASE
) -> list[str]:
    """The aftershock-built base (``local``) when some service builds on it and the engine lacks it."""
    wanted = any(local in images for images in bases.values())
    return [local] if wanted and not have(local) else []


def registry_failure(output: str, bases: Mapping[str, list[str]], is_offline: bool) -> str | None:
    """Why a failed ``compose build`` failed, when it was a registry lookup; else None.

    Names the service and image BuildKit was resolving when it failed (else every service whose
    Dockerfile names an image that is not aftershock's local base), says the machine is offline
    when ``AFTERSHOCK_OFFLINE=1``, and gives the two fixes."""
    if not _REGISTRY.search(output):
        return None
    failed_steps = set(re.findall(r"^#(\d+) ERROR", output, re.M))
    failed = {_short(m["image"]) for m in _METADATA.finditer(output) if m["step"] in failed_steps}
    if not failed:  # no BuildKit step said which: every base that is not aftershock's own
        failed = {_short(i) for images in bases.values() for i in images if i != LOCAL_BASE}
    users = {
        image: sorted(s for s, images in bases.items() if image in map(_short, images)) for image in failed
    }
    if not any(users.values()):
        return None
    what = "; ".join(
        f"{'services' if len(names) > 1 else 'service'} {', '.join(map(repr, names))}"
        f" {'build' if len(names) > 1 else 'builds'} FROM {image}"
        for image, names in sorted(users.items())
        if names
    )
    where = (
        f"this machine is offline ({OFFLINE_VAR}=1): nothing can be pulled"
        if is_offline
        else "the registry could not be reached"
    )
    return (
        f"compose could not build the images: {what}, which is not on this engine, and {where}.\n"
        f"  fix: build FROM {LOCAL_BASE}, which aftershock builds locally (Debian bookworm with\n"
        "       python3, pip and CA certificates; see docs/targets.md, section 1), or pre-load the image\n"
        "       on this engine (`docker save` it where a registry is reachable, `docker load -i` it here)"
    )


def ensure_local_base(services: Mapping[str, Mapping[str, Any]], client: DockerClient) -> None:
    """Build aftershock's local base (:func:`harness.docker.base.build_local_base`: once, under a
    lock shared with the Docker backend) if a service's Dockerfile names it and the engine lacks it."""
    for tag in local_bases_to_build(service_bases(services), lambda t: has_image(client, t)):
        build_local_base(client, tag)


def _short(image: str) -> str:
    """``python:3.11-slim`` for ``docker.io/library/python:3.11-slim`` (as a Dockerfile names it)."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if image.startswith(prefix):
            return image[len(prefix) :]
    return image


def build_images(cli: ComposeCLI, services: Mapping[str, Mapping[str, Any]]) -> None:
    """``compose build``; a registry lookup that failed is said as such (see :func:`registry_failure`)."""
    bases = service_bases(services)
    done = cli.run("build", timeout=BUILD_TIMEOUT, check=False)
    if done.returncode == 0:
        return
    output = (done.stdout or "") + "\n" + (done.stderr or "")
    why = registry_failure(output, bases, offline())
    if why is not None:
        raise InfrastructureError(why)
    raise cli.failure(done, cli.command("build"))
