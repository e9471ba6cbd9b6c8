"""Screenshots of the reports (docs/screenshots/), as an operations lead first sees them.

Two steps, so the suite can run the second on any run directories:

    python scripts/screenshots.py rehearse RUNS     # four real rehearsals into RUNS/<kind>/
    python scripts/screenshots.py shoot RUNS OUT    # PNGs of each report.html and the index

``rehearse`` runs db-down (passing), duplicate-requests in the target's fragile mode (failing,
data damage), db-down with three trials and bad-deploy-rollback, each into ``RUNS/<kind>``, and
writes ``RUNS/index.html`` over all four. ``shoot`` opens ``RUNS/<kind>/<run>/report.html`` of
every kind found and ``RUNS/index.html`` in headless Chromium (a fresh profile, no network
services, no GPU) and writes ``OUT/<kind>.png`` (the top of the page: the headline and what
follows) plus ``OUT/headlines.txt``, the lead line of each report, for the test that checks them.
Chromium is the Debian ``chromium`` package (``apt-get install chromium``); exit 3 without it.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = {
    "passing": ["scenarios/db-down.yaml"],
    "failing": ["scenarios/duplicate-requests.yaml", "--mode", "fragile"],
    "three-trials": ["scenarios/db-down.yaml", "--trials", "3"],
    "rollback": ["scenarios/bad-deploy-rollback.yaml"],
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
WIDTH, HEIGHT = 1280, 1100
#: Taller where what matters sits lower (the trials side by side).
HEIGHTS = {"three-trials": 1500}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    print("screenshots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
    raise SystemExit(3)


def rehearse(runs: Path) -> None:
    """The four report kinds from real rehearsals (exit 0 or 1 each: a failing run is wanted)."""
    for kind, args in KINDS.items():
        out = runs / kind
        cmd = [sys.executable, "-m", "harness.cli", "run", *args, "--out", str(out), "--quiet"]
        proc = subprocess.run(cmd, cwd=REPO, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"screenshots: {' '.join(args)} ended with exit {proc.returncode}")
    combined = runs / "all"
    combined.mkdir(exist_ok=True)
    for kind in KINDS:
        for run in (runs / kind).iterdir():
            if (run / "results.json").exists() and not (combined / run.name).exists():
                (combined / run.name).symlink_to(run.resolve())
    from harness.report.index import write_index

    write_index(combined)


def shoot_page(page: Path, png: Path, height: int = HEIGHT) -> None:
    """One screenshot of ``page`` (a local file) into ``png``."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="aftershock-chromium-") as profile:
        cmd = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{height}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not png.exists() or png.stat().st_size == 0:
        raise SystemExit(f"screenshots: chromium failed on {page}: {proc.stderr[-2000:]}")


def lead_of(report: Path) -> str:
    """The lead line of a report.html (its ``<h1 class="lead">``), as plain text."""
    m = re.search(r'<h1 class="lead">(.*?)</h1>', report.read_text(encoding="utf-8"), re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else ""


def shoot(runs: Path, out: Path) -> list[Path]:
    """Screenshots of every kind's latest report and of the index; the lead lines beside them."""
    out.mkdir(parents=True, exist_ok=True)
    written, leads = [], []
    for kind in KINDS:
        reports = sorted((runs / kind).glob("*/report.html"))
        if not reports:
            continue
        png = out / f"{kind}.png"
        shoot_page(reports[-1], png, height=HEIGHTS.get(kind, HEIGHT))
        written.append(png)
        leads.append(f"{kind}: {lead_of(reports[-1])}")
    for index in (runs / "all" / "index.html", runs / "index.html"):
        if index.exists():
            png = out / "index.png"
            shoot_page(index, png, height=900)
            written.append(png)
            break
    (out / "headlines.txt").write_text("\n".join(leads) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="step", required=True)
    r = sub.add_parser("rehearse", help="run the four rehearsals")
    r.add_argument("runs", type=Path)
    s = sub.add_parser("shoot", help="screenshot the reports of RUNS into OUT")
    s.add_argument("runs", type=Path)
    s.add_argument("out", type=Path, nargs="?", default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if args.step == "rehearse":
        rehearse(args.runs)
    else:
        for png in shoot(args.runs, args.out):
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
