"""One target lookup for the scenario loader and the pytest plugin, and it says why nothing was found."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.pytest_plugin import _find_target
from harness.scenario.lookup import find_target

REPO = Path(__file__).resolve().parents[2]


def _plugin_config(rootpath: Path) -> Any:
    return SimpleNamespace(rootpath=rootpath)


def test_a_name_is_found_under_targets_by_both(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSHOCK_TARGETS", raising=False)
    assert find_target("orders", tmp_path, [REPO / "targets"]).directory == REPO / "targets" / "orders"
    assert _find_target("orders", _plugin_config(REPO)) == REPO / "targets" / "orders"


def test_a_directory_without_target_yaml_is_named_as_such_by_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    found = find_target("./empty", tmp_path)
    assert found.directory is None and "has no target.yaml" in found.problem
    with pytest.raises(ScenarioError, match=r"has no target\.yaml"):
        _find_target("./empty", _plugin_config(tmp_path))


def test_a_missing_name_suggests_the_closest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFTERSHOCK_TARGETS", str(REPO / "targets"))
    found = find_target("ordres", tmp_path)
    assert found.directory is None and "did you mean 'orders'" in found.fix
    with pytest.raises(ScenarioError, match="did you mean 'orders'"):
        _find_target("ordres", _plugin_config(tmp_path))


def test_a_name_the_os_refuses_is_not_found_rather_than_an_oserror(tmp_path: Path) -> None:
    assert find_target("./" + "a" * 5000, tmp_path).directory is None
    assert find_target("a" * 5000, tmp_path).directory is None


def test_a_bare_name_of_a_directory_beside_the_scenario_says_to_write_it_as_a_path(tmp_path: Path) -> None:
    """docs/targets.md once said ``target: shop`` for a target.yaml next to the scenario's
    directory: a bare name is looked up under targets/, so the fix must say how to name a directory."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "target.yaml").write_text("name: shop\n")
    found = find_target("shop", tmp_path, [tmp_path / "targets"])
    assert found.directory is None
    assert "write it as a path: './shop'" in found.fix
    assert find_target("./shop", tmp_path).directory == (tmp_path / "shop").resolve()
    assert "write it as a path" not in find_target("nothing", tmp_path, [tmp_path / "targets"]).fix
