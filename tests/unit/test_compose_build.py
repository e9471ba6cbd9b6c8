"""Compose builds with no registry: the local base a Dockerfile names, and a registry lookup failure
said as one (which service, offline, the fix) instead of BuildKit's ``no such host``."""

from __future__ import annotations

from pathlib import Path

from harness.compose.build import dockerfile_bases, local_bases_to_build, registry_failure, service_bases

# What `compose build` printed for a newcomer's `FROM python:3.11-slim` on this machine (offline).
OFFLINE_BUILD = """\
#1 [front internal] load build definition from Dockerfile
#1 transferring dockerfile: 72B done
#1 DONE 0.1s

#3 [front internal] load metadata for docker.io/library/python:3.11-slim
#3 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/3.11-slim": \
dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
------
 > [front internal] load metadata for docker.io/library/python:3.11-slim:
------
failed to solve: rpc error: code = Unknown desc = failed to solve with frontend dockerfile.v0: failed to \
create LLB definition: failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/\
3.11-slim": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
"""


def test_the_bases_of_a_dockerfile() -> None:
    assert dockerfile_bases("FROM aftershock-base:bookworm\nWORKDIR /app\n") == ["aftershock-base:bookworm"]
    multi = (
        "ARG BASE=python:3.11-slim\n"
        "FROM --platform=linux/amd64 ${BASE} AS deps\nRUN pip install x\n"
        "FROM deps AS test\n"
        "from scratch\n"
        "FROM aftershock-base:bookworm\nCOPY --from=deps /x /x\n"
    )
    assert dockerfile_bases(multi) == ["python:3.11-slim", "aftershock-base:bookworm"]


def test_the_bases_of_each_service_compose_builds(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.api").write_text("FROM aftershock-base:bookworm\n")
    services = {
        "api": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile.api"}},
        "inline": {"build": {"context": str(tmp_path), "dockerfile_inline": "FROM busybox:1\n"}},
        "db": {"image": "postgres:16"},  # pulled or present, not built
        "gone": {"build": {"context": str(tmp_path / "nowhere")}},  # left to Compose to report
    }
    assert service_bases(services) == {"api": ["aftershock-base:bookworm"], "inline": ["busybox:1"]}


def test_the_local_base_is_built_only_when_a_dockerfile_names_it_and_it_is_missing() -> None:
    """The Compose backend never built ``aftershock-base:bookworm``: on a fresh offline host a target
    whose Dockerfile says ``FROM aftershock-base:bookworm`` could not build. (A differently named
    tag here: the shared image on this machine is never deleted by a test.)"""
    tag = "aftershock-base-test:guide"
    bases = {"front": [tag], "worker": [tag]}
    assert local_bases_to_build(bases, have=lambda t: False, local=tag) == [tag]  # once, not per service
    assert local_bases_to_build(bases, have=lambda t: t == tag, local=tag) == []
    assert local_bases_to_build({"front": ["python:3.11-slim"]}, have=lambda t: False, local=tag) == []


def test_an_offline_registry_lookup_names_the_service_the_machine_and_the_fix() -> None:
    why = registry_failure(OFFLINE_BUILD, {"front": ["python:3.11-slim"]}, is_offline=True)
    assert why is not None
    assert "service 'front' builds FROM python:3.11-slim" in why
    assert "offline (AFTERSHOCK_OFFLINE=1)" in why
    assert "build FROM aftershock-base:bookworm, which aftershock builds locally" in why
    assert "docker load" in why
    online = registry_failure(OFFLINE_BUILD, {"front": ["python:3.11-slim"]}, is_offline=False)
    assert online is not None and "could not be reached" in online and "OFFLINE=1" not in online


def test_without_buildkit_step_lines_the_services_come_from_their_dockerfiles() -> None:
    out = "failed to solve: python:3.11-slim: failed to resolve source metadata: no such host"
    bases = {"front": ["python:3.11-slim"], "worker": ["aftershock-base:bookworm"]}
    why = registry_failure(out, bases, is_offline=True)
    assert why is not None and "service 'front' builds FROM python:3.11-slim" in why and "worker" not in why


def test_every_service_on_the_failed_image_is_named_not_only_the_one_buildkit_tried_first() -> None:
    """Three services share one Dockerfile; BuildKit reports the first and cancels the others."""
    bases = {s: ["python:3.11-slim"] for s in ("worker", "front", "store")} | {"db": ["postgres:16"]}
    why = registry_failure(OFFLINE_BUILD, bases, is_offline=True)
    assert why is not None and "services 'front', 'store', 'worker' build FROM python:3.11-slim" in why
    assert "postgres" not in why


def test_other_build_failures_are_left_as_compose_said_them() -> None:
    out = '#7 [api 2/3] COPY app.py /app/\n#7 ERROR: failed to calculate checksum: "/app.py": not found\n'
    assert registry_failure(out, {"api": ["aftershock-base:bookworm"]}, is_offline=True) is None
