"""A real ``compose build`` on this offline machine: a Dockerfile ``FROM python:3.11-slim`` fails
with which service, that the machine is offline, and the fix, not BuildKit's ``no such host``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.compose.build import build_images
from harness.compose.cli import ComposeCLI
from harness.compose.provision import find_compose
from harness.errors import InfrastructureError

pytestmark = pytest.mark.docker


def test_an_offline_build_from_a_registry_image_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        binary = find_compose()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and Compose is missing:\n{exc}")
        pytest.skip(f"no Compose: {str(exc).splitlines()[0]}")
    monkeypatch.setenv("AFTERSHOCK_OFFLINE", "1")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /app\n")
    (tmp_path / "compose.yaml").write_text("services:\n  front:\n    build: .\n")
    cli = ComposeCLI(binary, f"aftershock-guide-{os.getpid()}", [tmp_path / "compose.yaml"], tmp_path)
    services = cli.config()["services"]
    with pytest.raises(InfrastructureError) as caught:
        build_images(cli, services)
    message = str(caught.value)
    assert "service 'front' builds FROM python:3.11-slim" in message
    assert "offline (AFTERSHOCK_OFFLINE=1)" in message
    assert "build FROM aftershock-base:bookworm, which aftershock builds locally" in message
