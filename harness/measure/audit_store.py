"""Where a trial's audit is kept: one JSON Lines file per audit source, an effect per line.

``trial-N/audit/<n>-<service>.jsonl``: the first line says which source it is and holds its
document without the effects (``{"source": "api", "effects_follow": true, "document":
{"pending": 0}}``); each following line is one effect, in the order the target listed them. A
document that is not an object with a list of effects (a broken audit, kept to be looked at) is
held whole in ``document``, with ``effects_follow`` false and no lines after it.

Why lines and not one document: a million writes make an audit of hundreds of MiB, which a reader
of one JSON document must hold whole, text and parse at once; lines are parsed by Arrow block by
block (:mod:`harness.measure.audit_columns`), so the analysis holds only the columns it keeps.
Runs written before this layout kept ``trial-N/audit.json`` (``{service: document}``); it is
still read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

AUDIT_DIR = "audit"
LEGACY_FILE = "audit.json"


@dataclass(frozen=True)
class AuditSource:
    """One source's file: its service, its document without the effects, and where its effect
    lines begin (None: ``document`` is the whole document as the target answered it)."""

    service: str
    path: Path
    document: Any
    effects_at: int | None


def write_audit(trial_dir: Path, docs: Mapping[str, Any]) -> None:
    """Keep the audits (service -> document as answered) under ``trial_dir``, replacing any kept
    before; the directory appears whole or not at all (written aside, then renamed)."""
    final = trial_dir / AUDIT_DIR
    aside = trial_dir / f".{AUDIT_DIR}.{os.getpid()}.tmp"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    for n, (service, doc) in enumerate(docs.items(), start=1):
        with (aside / f"{n}-{_safe(service)}.jsonl").open("w", encoding="utf-8") as fh:
            _write_source(fh, service, doc)
            fh.flush()
            os.fsync(fh.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(aside, final)


def _write_source(fh: IO[str], service: str, doc: Any) -> None:
    follow = isinstance(doc, dict) and isinstance(doc.get("effects"), list)
    rest = {k: v for k, v in doc.items() if k != "effects"} if follow else doc
    fh.write(json.dumps({"source": service, "effects_follow": follow, "document": rest}) + "\n")
    if follow:
        for effect in doc["effects"]:
            fh.write(json.dumps(effect, separators=(",", ":")) + "\n")


def _safe(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", service)[:64] or "_"


def has_audit(trial_dir: Path) -> bool:
    """Whether the trial kept an audit (in either layout)."""
    return (trial_dir / AUDIT_DIR).is_dir() or (trial_dir / LEGACY_FILE).is_file()


def audit_location(trial_dir: Path) -> Path:
    """What an error about the trial's audit names: the directory, or the legacy file."""
    legacy = trial_dir / LEGACY_FILE
    return legacy if legacy.is_file() and not (trial_dir / AUDIT_DIR).is_dir() else trial_dir / AUDIT_DIR


def audit_sources(trial_dir: Path) -> list[AuditSource]:
    """The sources of the trial's audit (the line layout), in the order they were kept."""
    directory = trial_dir / AUDIT_DIR
    files = sorted(directory.glob("*.jsonl"), key=lambda p: (int(p.name.split("-", 1)[0]), p.name))
    out = []
    for path in files:
        with path.open("rb") as fh:
            head = json.loads(fh.readline() or b"null")
            at = fh.tell()
        if not isinstance(head, dict) or not isinstance(head.get("source"), str):
            raise ValueError(f"{path}: the first line names no audit source")
        follows = at if head.get("effects_follow") else None
        out.append(AuditSource(head["source"], path, head.get("document"), follows))
    return out


def effect_lines(source: AuditSource) -> Iterator[Any]:
    """The source's effects, one parsed line at a time."""
    if source.effects_at is None:
        return
    with source.path.open("rb") as fh:
        fh.seek(source.effects_at)
        for line in fh:
            if line.strip():
                yield json.loads(line)


def audit_documents(trial_dir: Path) -> dict[str, Any]:
    """Every source's whole document (service -> document as the target answered it), from either
    layout: what readers that take documents (validation, the slow path) are given."""
    if not (trial_dir / AUDIT_DIR).is_dir():
        return dict(json.loads((trial_dir / LEGACY_FILE).read_text(encoding="utf-8")))
    docs: dict[str, Any] = {}
    for source in audit_sources(trial_dir):
        docs[source.service] = source_document(source)
    return docs


def source_document(source: AuditSource) -> Any:
    """One source's whole document, its effects read back into it."""
    if source.effects_at is None:
        return source.document
    return {**source.document, "effects": list(effect_lines(source))}
