"""``load.master``: the address the Locust master listens on for workers on other machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]


def scenario(tmp_path: Path, master: str) -> Path:
    text = (REPO / "scenarios" / "db-down.yaml").read_text()
    path = tmp_path / "remote.yaml"
    path.write_text(text.replace("load:\n", f"load:\n  master: {master}\n", 1))
    return path


def test_a_named_address_and_worker_count_are_taken(tmp_path: Path) -> None:
    loaded = load_scenario(scenario(tmp_path, "{bind: 10.0.0.5, port: 7557, remote_workers: 2}"))
    master = loaded.scenario.load.master
    assert master is not None and (master.bind, master.port, master.remote_workers) == ("10.0.0.5", 7557, 2)


def test_without_it_the_master_stays_on_loopback(tmp_path: Path) -> None:
    assert load_scenario(REPO / "scenarios" / "db-down.yaml").scenario.load.master is None


@pytest.mark.parametrize(
    ("master", "said"),
    [
        ("{bind: loadbox.example, remote_workers: 1}", "'loadbox.example' is not an IP address"),
        ("{bind: 10.0.0.5, remote_workers: 0}", "remote_workers"),
        ("{bind: 10.0.0.5, port: 80, remote_workers: 1}", "port"),
    ],
)
def test_a_bad_master_is_refused_with_where_and_fix(tmp_path: Path, master: str, said: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(tmp_path, master))
    text = str(info.value)
    assert "remote.yaml:" in text and said in text, text
    assert info.value.exit_code == 2
