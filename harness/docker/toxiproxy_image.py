"""The image of the run's Toxiproxy container: the cached ``toxiproxy-server`` binary, on
``scratch`` when it is static (ours is: a few MB, nothing to pull), else on the base image."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from harness.docker.base import base_image
from harness.docker.images import Context, build
from harness.toxiproxy.provision import TOXIPROXY_VERSION

if TYPE_CHECKING:
    from docker import DockerClient

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
