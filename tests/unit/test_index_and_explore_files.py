"""The index's mode and data-damage columns; explore's scenarios are portable (issue 14)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from harness.explore.search import variant
from harness.report.index import refresh_index, render_index
from harness.results import write_results
from harness.scenario.loader import load_scenario
from tests.conftest import REPO
from tests.unit.test_reports import synthetic_run, typed


def test_index_has_mode_and_data_damage_columns(tmp_path: Path) -> None:
    doc, _ = synthetic_run()
    doc = copy.deepcopy(doc)
    doc["as_run"] = {"mode": "fragile", "trials": 1, "seed": 1, "backend": "process"}
    doc["trials"][0]["consistency"] = {"writes": 100, "acknowledged": 90, "corrupted": 182}
    (tmp_path / doc["run_id"]).mkdir()
    write_results(tmp_path / doc["run_id"] / "results.json", typed(doc))
    page = render_index(tmp_path)
    assert "<th>mode</th>" in page and "<td>fragile</td>" in page
    assert "<th>data damage</th>" in page and "<td>182 corrupted writes</td>" in page
    assert refresh_index(tmp_path) is None and (tmp_path / "index.html").exists()


def test_refresh_index_says_why_instead_of_raising(tmp_path: Path) -> None:
    problem = refresh_index(tmp_path / "missing")
    assert problem is not None and "index.html not written" in problem


def test_an_explored_scenario_names_its_target_relative_to_itself(tmp_path: Path) -> None:
    source = REPO / "scenarios" / "db-down.yaml"
    loaded = load_scenario(source)
    base = yaml.safe_load(source.read_text(encoding="utf-8"))
    where = tmp_path / "explore" / "x"
    where.mkdir(parents=True)
    doc = variant(base, loaded, [], "moved", None, where)
    assert not Path(doc["target"]["name"]).is_absolute()
    (where / "minimal.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert load_scenario(where / "minimal.yaml").target_dir == loaded.target_dir
