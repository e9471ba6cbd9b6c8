"""Paths between Compose services that no declared link covers: seen from the file, a warning."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main
from harness.compose.reach import DirectPath, direct_paths

COMPOSE = """
x-py: &py
  image: python
services:
  web: {<<: *py}
  worker: {<<: *py, networks: [default, jobs]}
  cron: {<<: *py, networks: [jobs]}
  store: {<<: *py}
  metrics: {<<: *py, network_mode: host}
  admin: {<<: *py, networks: {ops: {}}}
networks: {jobs: {}, ops: {}}
"""


def test_pairs_on_a_shared_network_without_a_link_are_found(tmp_path: Path) -> None:
    file = tmp_path / "compose.yaml"
    file.write_text(COMPOSE)
    # store is a link's server: reachable only through its links, never directly; metrics shares
    # no Compose network; admin is alone on ops
    assert direct_paths(file, [("web", "store"), ("worker", "store")]) == [
        DirectPath("cron", "worker", "jobs"),
        DirectPath("web", "worker", "default"),
    ]
    # a declared link web->worker takes worker off its networks: no direct path is left
    assert direct_paths(file, [("web", "store"), ("web", "worker")]) == []


def test_a_file_it_cannot_read_gives_no_warning(tmp_path: Path) -> None:
    file = tmp_path / "compose.yaml"
    file.write_text("services:\n  a: !reset []\n")
    assert direct_paths(file, []) == []
    assert direct_paths(tmp_path / "missing.yaml", []) == []


def test_validate_warns_and_still_passes(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "shop" / "target.yaml").write_text(
        "name: shop\ncompose: compose.yaml\nentrypoint: web\nlinks: [web->store]\n"
    )
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            name: s
            target: ./shop
            backend: compose
            load: {duration: 20s}
            faults: [{kind: down, link: web->store, at: 5s, duration: 2s}]
            """
        )
    )
    result = CliRunner().invoke(main, ["validate", str(scenario)])
    assert result.exit_code == 0, result.output
    assert "warning: services web and worker share the Compose network 'default'" in result.output
    assert "declare the link (web->worker or worker->web)" in result.output
    # the process backend has no Compose networks to read: no warning
    quiet = CliRunner().invoke(main, ["validate", str(scenario), "--backend", "process"])
    assert "warning" not in quiet.output
