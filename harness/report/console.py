"""The verdict table printed at the end of a run."""

from __future__ import annotations

from typing import Any


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def verdict_table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    header = ["", "expectation", "trial", "fault", "target", "measured", "margin"]
    rows: list[list[str]] = []
    for v in results.get("verdicts", []):
        margin = v.get("margin")
        rows.append(
            [
                "PASS" if v["passed"] else "FAIL",
                v["expectation"],
                "all" if v["trial"] == 0 else str(v["trial"]),
                v["fault"],
                v["target"],
                v["measured_text"],
                "" if margin is None else f"{margin:+.3g}",
            ]
        )
    faults: list[list[str]] = []
    for trial in results.get("trials", []):
        for f in trial.get("faults", []):
            faults.append(
                [
                    str(trial["trial"]),
                    f["label"],
                    _secs(f.get("injected_at")),
                    _secs(f.get("cleared_at")),
                    _secs(f.get("time_to_impact")),
                    "not recovered" if not f.get("recovered") else _secs(f.get("recovery_time")),
                    _secs(f.get("outage")),
                    f"±{f['resolution'].get('recovery_time', 0):.2f}s",
                ]
            )
    if faults:
        fh = ["trial", "fault", "injected", "cleared", "impact after", "recovery", "outage", "resolution"]
        widths = [max(len(r[i]) for r in [fh, *faults]) for i in range(len(fh))]
        lines.append(_row(fh, widths))
        lines.extend(_row(r, widths) for r in faults)
        lines.append("")
    for trial in results.get("trials", []):
        c = trial.get("consistency")
        if c:
            lines.append(
                f"data, trial {trial['trial']}: {c['writes']} writes ({c['acknowledged']} acknowledged,"
                f" {c['indeterminate']} indeterminate: {c['indeterminate_present']} applied,"
                f" {c['indeterminate_absent']} not); lost {c['lost']}, duplicated {c['duplicated']},"
                f" corrupted {c['corrupted']}, phantom {c['phantom']}, stuck {c['stuck'] + c['pending']}"
            )
    if any(t.get("consistency") for t in results.get("trials", [])):
        lines.append("")
    for trial in results.get("trials", []):
        rb = trial.get("rollback")
        if rb:
            dur = "none" if rb["rollback_duration"] is None else f"{rb['rollback_duration']:.1f}s"
            det = "-" if rb["detection_to_rollback"] is None else f"{rb['detection_to_rollback']:.1f}s"
            lines.append(
                f"rollback, trial {trial['trial']}: {rb['action']} ({rb['reason']}); duration {dur}"
                f" ±{rb['resolution']:.2f}s, detection to rollback {det}"
                + (f"; {rb['note']}" if rb["note"] else "")
            )
            data = rb.get("data_after_rollback")
            if data and not data["clean"]:
                lines.append(
                    f"  service restored, data NOT: {data['corrupted']} corrupted, {data['lost']} lost,"
                    f" {data['duplicated']} duplicated writes remain after the rollback (not a full recovery)"
                )
    lines.extend(f"WARNING: {w}" for w in results.get("warnings", []))
    esc = results.get("escalation")
    if esc and esc.get("needs_human"):
        lines.append(
            f"ESCALATE: needs a human (automated-recovery budget {esc['budget']:g}s): "
            + "; ".join(esc["reasons"])
        )
    if any(t.get("rollback") for t in results.get("trials", [])) or (esc and esc.get("needs_human")):
        lines.append("")
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines.append(_row(header, widths))
        lines.extend(_row(r, widths) for r in rows)
    else:
        lines.append("(no expectations stated: figures measured, nothing asserted)")
    return "\n".join(lines)
