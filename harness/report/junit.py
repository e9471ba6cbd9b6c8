"""``junit.xml``: the verdicts in the format every CI system already shows as test results.

One ``<testcase>`` per verdict (each expectation, for each fault, for each trial), so a CI's
test view lists exactly what the console's verdict table lists and tracks each one's history by
name. The names are stable across runs ("trial 1: recovery_time <= 4s (down@api->db)"): CI
systems key a test's history on ``classname`` + ``name``, so nothing run-specific (run id,
timestamps, measured values) goes into them.

A run that could not judge everything is not allowed to look green: an interrupted, errored or
incomplete run adds an ``<error>`` test case saying why. A run with nothing to assert (no
expectation stated) gets one passing "run completed" case, because several CI systems treat a
report with zero tests as a broken report.

The layout is the common Jenkins / GitLab / Ant one: ``testsuites > testsuite > (properties?,
testcase*, system-out?)``, ``testcase > (failure | error)?``, counts as attributes, and the
timestamp without a zone (that schema's ``xs:dateTime`` pattern has none; it is UTC).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.files import atomic_write_bytes
from harness.report import as_run_words, escalation_text, headline, miss_sentence
from harness.report.lead import lead
from harness.results import Results, Verdict

JUNIT_NAME = "junit.xml"


def testcase_name(v: Verdict) -> str:
    """``trial 1: recovery_time <= 4s (down@api->db)``: stable from run to run."""
    which = "all trials" if v.trial == 0 else f"trial {v.trial}"  # 0: over the trials
    return f"{which}: {v.expectation} {v.target} ({v.fault})"


def _run_seconds(results: Results) -> float:
    """How long the rehearsal observed load: the last trial's stop, in run-relative seconds."""
    ends = [t.load.stopped_at for t in results.trials if t.load is not None and t.load.stopped_at is not None]
    return max(ends, default=0.0)


def _timestamp(results: Results) -> str | None:
    text = results.started_at
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def _problems(results: Results) -> list[tuple[str, str, str, str]]:
    """``(name, type, message, details)`` of every reason the run's verdicts are incomplete."""
    out: list[tuple[str, str, str, str]] = []
    error = (results.error or "").strip()
    if results.interrupted:
        out.append(
            (
                "run: interrupted",
                "Interrupted",
                "the rehearsal was interrupted; results are partial",
                "Faults were cleared and the target torn down; the verdicts cover what was measured.",
            )
        )
    if error:
        first = error.splitlines()[0]
        out.append(("run: error", "RunError", first, error))
    if not out and not results.complete:
        out.append(
            (
                "run: incomplete",
                "Incomplete",
                "the run did not record its end or did not finish every trial",
                "The journal has no run_finished event, or fewer trials were measured than planned.",
            )
        )
    return out


def _properties(props: ET.Element, results: Results) -> None:
    """The run's facts as properties, the scenario as run among them (mode, workers, overrides)."""
    facts: list[tuple[str, object]] = [
        ("run_id", results.run_id),
        ("scenario_file", results.scenario_file),
        ("target", results.target),
        ("backend", results.backend),
        ("seed", results.seed),
        ("clock", results.clock),
        ("schema", results.schema_),
    ]
    for key, value in facts:
        if value is not None:
            ET.SubElement(props, "property", {"name": key, "value": str(value)})
    if results.escalation is not None:
        needs = "true" if results.escalation.needs_human else "false"
        ET.SubElement(props, "property", {"name": "needs_human", "value": needs})
    run = results.as_run
    if run is not None:
        added: list[tuple[str, object]] = [
            ("mode", run.mode or "default"),
            ("trials", run.trials),
            ("load_workers", run.load_workers),
            ("overrides", ", ".join(f"{k}={v}" for k, v in run.overrides.items())),
        ]
        for key, value in added:
            ET.SubElement(props, "property", {"name": key, "value": str(value)})


def _verdict_case(suite: ET.Element, scenario: str, v: Verdict) -> None:
    """One verdict as a test case; a missed one carries its sentence, margin and resolution."""
    case = ET.SubElement(suite, "testcase", {"classname": scenario, "name": testcase_name(v), "time": "0"})
    if v.passed:
        return
    if not v.observed:  # the user stopped the run first: nothing was learned about the target
        ET.SubElement(
            case, "skipped", {"message": f"{v.measured_text}: the run was stopped before it was measured"}
        )
        return
    failure = ET.SubElement(
        case,
        "failure",
        {"message": f"measured {v.measured_text}, target {v.target}", "type": "ExpectationMissed"},
    )
    lines = [miss_sentence(v)]
    if v.margin is not None:
        lines.append(f"margin: {v.margin:+.6g}")
    if v.resolution is not None:
        lines.append(f"resolution: ±{v.resolution:.3g}s")
    failure.text = "\n".join(lines)


def render_junit(results: Results) -> bytes:
    """The JUnit XML document as UTF-8 bytes, with an XML declaration."""
    scenario = results.scenario or "aftershock"
    verdicts = results.verdicts
    problems = _problems(results)
    failures = sum(1 for v in verdicts if not v.passed and v.observed)
    skipped = sum(1 for v in verdicts if not v.observed)
    placeholder = not verdicts and not problems
    tests = len(verdicts) + len(problems) + (1 if placeholder else 0)
    seconds = f"{_run_seconds(results):.3f}"

    root = ET.Element(
        "testsuites",
        {
            "name": "aftershock",
            "tests": str(tests),
            "failures": str(failures),
            "errors": str(len(problems)),
            "skipped": str(skipped),
            "time": seconds,
        },
    )
    suite_attrs = {
        "name": scenario,
        "tests": str(tests),
        "failures": str(failures),
        "errors": str(len(problems)),
        "skipped": str(skipped),
        "time": seconds,
    }
    stamp = _timestamp(results)
    if stamp:
        suite_attrs["timestamp"] = stamp
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    _properties(ET.SubElement(suite, "properties"), results)

    for v in verdicts:
        _verdict_case(suite, scenario, v)
    for name, kind, message, details in problems:
        case = ET.SubElement(suite, "testcase", {"classname": scenario, "name": name, "time": "0"})
        error = ET.SubElement(case, "error", {"message": message, "type": kind})
        error.text = details
    if placeholder:
        ET.SubElement(
            suite,
            "testcase",
            {"classname": scenario, "name": "run: completed (no expectation stated)", "time": "0"},
        )
    out = ET.SubElement(suite, "system-out")
    escalate = escalation_text(results)
    out.text = (
        lead(results)
        + "\n"
        + headline(results)
        + f"\nas run: {as_run_words(results)}"
        + (f"\nESCALATE: {escalate}" if escalate else "")
        + "".join(f"\nWARNING: {w}" for w in results.warnings)
    )
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(path: Path, results: Results) -> Path:
    """Write the JUnit XML of ``results`` to ``path`` atomically and return ``path``."""
    path = Path(path)
    atomic_write_bytes(path, render_junit(results))
    return path


__all__ = ["JUNIT_NAME", "render_junit", "testcase_name", "write_junit"]
