"""Each service's image: the one its ``docker.image`` names (here, or pulled), else built from its
Dockerfile on the shared base (cached by content hash, see :mod:`harness.docker.images`).

Services that share a Dockerfile share one build.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.docker import images
from harness.docker.base import base_image
from harness.docker.engine import Emit, docker_client
from harness.docker.problems import dockerfile_for
from harness.errors import InfrastructureError
from harness.scenario.target import Target

if TYPE_CHECKING:
    from docker import DockerClient


def prepare_service_images(
    client: DockerClient,
    target: Target,
    target_dir: Path,
    build_labels: dict[str, str],
    emit: Emit,
    into: dict[str, str],
) -> None:
    """Fill ``into`` (service -> image) in start order; builds use their own long-timeout client."""
    build_client = docker_client(images.BUILD_TIMEOUT)
    try:
        base: str | None = None
        by_dockerfile: dict[Path, str] = {}
        for service in target.start_order():
            spec = target.services[service]
            if spec.docker is not None and spec.docker.image:
                into[service] = existing_image(client, spec.docker.image, service)
                continue
            dockerfile = dockerfile_for(target_dir, service, spec)
            assert dockerfile is not None  # docker_problems() checked it
            if dockerfile not in by_dockerfile:
                base = base or base_image(build_client)
                started = time.monotonic()
                by_dockerfile[dockerfile] = images.build(
                    build_client,
                    images.directory_context(target_dir, dockerfile),
                    images.repository_for(target.name, dockerfile),
                    base=base,
                    labels=build_labels,
                    what=f"{target.name}/{service}",
                )
                emit(
                    "image_ready",
                    service=service,
                    image=by_dockerfile[dockerfile],
                    seconds=round(time.monotonic() - started, 3),
                )
            into[service] = by_dockerfile[dockerfile]
    finally:
        build_client.close()


def existing_image(client: DockerClient, image: str, service: str) -> str:
    """``image`` if the engine has it, else pulled (unless offline, which says how to get it)."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(image)
        return image
    except ImageNotFound:
        pass
    if images.offline():
        raise InfrastructureError(
            f"image {image!r} of service {service!r} is not here and {images.OFFLINE_VAR}=1"
            " forbids a pull\n"
            f"  fix: build or load it (`docker images` lists what is here), or unset {images.OFFLINE_VAR}"
        )
    try:
        client.images.pull(image)
    except DockerException as exc:
        raise InfrastructureError(
            f"image {image!r} of service {service!r} could not be pulled: {exc}"
        ) from None
    return image
