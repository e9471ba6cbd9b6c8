"""The inline CSS of the self-contained pages: readable without colour, printable, no network."""

REPORT_CSS = """
:root { --ink: #1b1b1b; --muted: #555; --line: #c8c8c8; --pass: #e7f4e8; --fail: #fbe4e4; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1240px; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.55rem; margin: .2rem 0 .5rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; border-bottom: 2px solid var(--ink); padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.headline { border: 3px solid var(--ink); padding: .8rem 1rem; margin: .5rem 0 1rem; }
.headline.FAILED, .headline.ERROR, .headline.ABORTED, .headline.INTERRUPTED, .headline.INCOMPLETE,
.headline.UNHEALTHY {
  border-style: double; border-width: 6px; background: var(--fail); }
.headline.PASSED { background: var(--pass); }
.status { font-weight: 800; letter-spacing: .08em; margin: 0; }
.meta { color: var(--muted); margin: .2rem 0; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; font-size: .93rem; }
th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f1f1f1; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { white-space: nowrap; } .wrap { white-space: normal; }
td.pass { background: var(--pass); font-weight: 700; white-space: nowrap; }
td.fail { background: var(--fail); font-weight: 800; white-space: nowrap; text-decoration: underline; }
figure { margin: .6rem 0 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
pre { background: #f6f6f6; border: 1px solid var(--line); padding: .7rem; overflow-x: auto;
      font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
details > summary { cursor: pointer; font-weight: 600; font-size: 1.1rem; margin: .8rem 0 .3rem; }
.note { color: var(--muted); font-size: .9rem; }
.escalate { font-weight: 800; border-left: 6px double var(--ink); padding-left: .6rem; }
dl.defs dt { font-weight: 600; margin-top: .4rem; }
dl.defs dd { margin-left: 1.2rem; }
code { font-size: .9em; }
"""

INDEX_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1b1b1b; margin: 0 auto; max-width: 1240px; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; border-bottom: 2px solid #1b1b1b; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .92rem; }
th, td { border: 1px solid #c8c8c8; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f1f1f1; } td.num, td.nw { white-space: nowrap; } td.num { text-align: right; }
td.run { overflow-wrap: anywhere; font-size: .85rem; }
td.PASSED { background: #e7f4e8; font-weight: 700; }
td.FAILED, td.ERROR, td.INTERRUPTED, td.INCOMPLETE { background: #fbe4e4; font-weight: 800; }
img { max-width: 100%; border: 1px solid #c8c8c8; } .note { color: #555; font-size: .9rem; }
"""
