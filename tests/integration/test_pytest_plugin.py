"""The pytest plugin, exercised in a separate pytest process (as pytest's own pytester does)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.integration
GROUNDTRUTH = str(REPO / "targets" / "groundtruth")


def scenario(delay: float, bound: str) -> str:
    return yaml.safe_dump(
        {
            "name": "gt",
            "target": {"name": GROUNDTRUTH, "env": {"app": {"GT_RECOVERY_DELAY": str(delay)}}},
            "load": {"users": 5, "rate_per_user": 20, "duration": "14s", "request_timeout": "1s"},
            "slo": {"window": "1s", "step": "50ms", "hold": "2s"},
            "faults": [
                {"kind": "down", "link": "app->dep", "at": "4s", "duration": "2s"}
            ],  # after a 2 s baseline
            "expect": {"recovery_time": bound},
        }
    )


def test_a_scenario_file_is_a_test_item_and_junit_works(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "gt.yaml").write_text(scenario(0.5, "<= 3s"))
    (pytester.path / "data.yaml").write_text("not: a scenario\n")  # not under scenarios/: ignored
    result = pytester.runpytest_subprocess("scenarios/", "--junitxml=junit.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1"
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "gt"
    assert "run_dir" in ET.tostring(case, encoding="unicode")  # the run directory is a property
    # a rehearsal takes a minute: its progress reaches the terminal despite pytest's capture
    said = result.stdout.str() + result.stderr.str()
    assert "gt: rehearsing" in said and "analysing the journal and the ledgers" in said
    index = pytester.path / "reports" / "index.html"  # the plugin refreshes the index, as `run` does
    assert index.exists() and ">gt<" in index.read_text()


def test_a_missed_expectation_fails_with_the_verdict_table(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "slow.yaml").write_text(scenario(4, "<= 1s"))
    result = pytester.runpytest_subprocess("scenarios/slow.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rehearsal slow EXPECTATION_MISSED*", "*FAIL  recovery_time*<= 1s*"])


def test_an_invalid_scenario_fails_its_item_with_the_problem(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "bad.yaml").write_text("name: bad\ntarget: nowhere\nlod: {}\n")
    result = pytester.runpytest_subprocess("scenarios/", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid scenario*", "*unknown field 'lod'*"])


def test_fixtures_start_a_target_and_faults_are_always_cleared(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        import pytest, requests

        @pytest.mark.aftershock_target({GROUNDTRUTH!r}, env={{"app": {{"GT_RECOVERY_DELAY": "0"}}}})
        def test_dependency_down(aftershock_target, fault, toxiproxy):
            work = aftershock_target.url() + "/work"
            assert requests.get(work, timeout=2).status_code == 200
            with fault.down("app->dep"):
                assert requests.get(work, timeout=2).status_code == 503
                assert toxiproxy.proxies()["as-" + aftershock_target.run_id + "-app-dep"]["enabled"] is False
            assert requests.get(work, timeout=2).status_code == 200

        @pytest.mark.aftershock_target({GROUNDTRUTH!r})
        def test_a_fault_is_cleared_when_the_test_fails(aftershock_target, fault, toxiproxy):
            with fault.latency("app->dep", 300):
                raise RuntimeError("boom")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, failed=1)
    assert "boom" in result.stdout.str()


def test_importing_the_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    result = pytester.run(
        sys.executable,
        "-c",
        "import sys, harness.pytest_plugin; "
        "heavy = [m for m in ('locust', 'gevent', 'docker', 'matplotlib') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(1 if heavy else 0)",
    )
    assert result.ret == 0, result.stdout.str()


def test_nothing_the_suite_starts_rebuilds_toxiproxy(pytester: pytest.Pytester) -> None:
    """pytester's temporary HOME must not hide the cached binary (a 90 s Go build per CI run)."""
    result = pytester.run(
        sys.executable,
        "-c",
        "import os; from harness.toxiproxy.provision import find_toxiproxy; "
        "print('HOME', os.environ['HOME']); print('FOUND', find_toxiproxy(build=False))",
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert str(pytester.path) in result.stdout.str()  # HOME is pytester's, and the binary is still found
