"""The bounded YAML reader: plain YAML with anchors and merges still works; hostile YAML is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.measure.health import HealthPolicy
from harness.scenario.models import SLO
from harness.scenario.yamlsource import MAX_NODES, read_yaml


def _read(tmp_path: Path, text: str | bytes) -> object:
    path = tmp_path / "x.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_yaml(path).data


def test_anchors_merges_and_a_byte_order_mark_are_plain_yaml(tmp_path: Path) -> None:
    text = "\ufeffbase: &b {users: 5, duration: 30s}\nload:\n  <<: *b\n  users: 7\n"
    assert _read(tmp_path, text) == {
        "base": {"users": 5, "duration": "30s"},
        "load": {"users": 7, "duration": "30s"},
    }


def test_lines_are_kept_for_every_key(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: a\nfaults:\n  - kind: down\n    link: api->db\n")
    doc = read_yaml(path)
    assert doc.line(("faults", 0, "link")) == 4
    assert doc.line(("faults", 0, "missing")) == 3  # the nearest ancestor


def test_the_659_byte_billion_laughs_is_refused_before_it_expands(tmp_path: Path) -> None:
    """Nine levels of ten: 10^9 values once expanded. Refused on the event stream (no timing here:
    the bound is on the expanded count, which is exact)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ScenarioError, match=f"more than {MAX_NODES} values once aliases expand"):
        _read(tmp_path, "\n".join(lines) + "\n")


@pytest.mark.parametrize("text", ["loop: &l [*l]\n", "loop: &l {a: {b: *l}}\n"])
def test_a_recursive_alias_is_refused(tmp_path: Path, text: str) -> None:
    """Found by the fuzz test: YAML may nest an anchor inside itself; walking it never ended."""
    with pytest.raises(ScenarioError, match="refers to itself"):
        _read(tmp_path, text)


def test_deep_nesting_through_aliases_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 80)]
    with pytest.raises(ScenarioError, match="levels deep"):
        _read(tmp_path, "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\n---\nb: 2\n", "keep one document per file"),
        ("at: 2001-13-45\n", "a value cannot be read"),
        ("? [a, b]\n: 1\n", "keys must be plain words"),
        ('a: !!binary "AAA"\n', "fix:"),
        ('a: "\\ud800"\n', "not valid YAML"),
        ('a: "\\x1b[31m"\n', "control character U+001B"),
        ("a: 1\nb: x\x00y\n", "x.yaml:2: (yaml): not valid YAML: the character U+0000"),
    ],
)
def test_odd_yaml_is_one_problem_with_a_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _read(tmp_path, text)
    assert expected in str(info.value) and "fix:" in str(info.value)


def test_a_directory_or_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="a directory"):
        read_yaml(tmp_path)
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: nothing is written or read
    with pytest.raises(ScenarioError, match="more than a scenario can be"):
        read_yaml(big)


def test_the_slo_rules_are_the_health_policy_rules() -> None:
    """SLO delegates to HealthPolicy (the rules are written once) and hands the policy out."""
    slo = SLO.model_validate({"window": "2s", "step": "200ms", "hold": "4s", "p95_latency": "300ms"})
    assert slo.policy() == HealthPolicy(window=2.0, step=0.2, hold=4.0, p95_latency=0.3)
    with pytest.raises(ValueError, match="hold must be at least one window"):
        SLO.model_validate({"window": "2s", "hold": "1s"})
    with pytest.raises(ValueError, match="step must not exceed window"):
        SLO.model_validate({"window": "1s", "step": "2s", "hold": "5s"})
