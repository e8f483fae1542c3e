"""The audit of the release as printed: what ``analysis audit`` and the render stage run.

The render stage runs it on the staging folder once every report (and the methodology page's
tables) is written, and publishes nothing if a value is exposed; ``analysis audit`` runs it on a
finished build. Both read what a reader holds (the open data files, and every table each report
prints, which the build keeps in ``<data_dir>/audit/printed/``), the provenance the report writer
recorded for each row (``<data_dir>/audit/printed.json``; neither is published) and the release's true values
(``results/disclosure``), and attack with :func:`analysis.disclosure.attack.audit` in both
engines. The report goes to ``<data_dir>/audit/audit.json``; its summary to the methodology page
and the manifest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from analysis.config import Config
from analysis.disclosure.attack import RELEASE_DIR, audit, read_release, summary
from analysis.disclosure.ledger import Rule
from analysis.disclosure.protected import DisclosureError

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.json"
PRINTED_FILE = "printed.json"
ENGINES: tuple[str, ...] = ("highs", "gconfid")


def folder(cfg: Config) -> Path:
    """Where the audit keeps its record (internal: next to the data, never published)."""
    return cfg.paths.data_dir / "audit"


def rule(cfg: Config) -> Rule:
    p = cfg.privacy
    return Rule(
        min_cell=p.min_cell, width=float(p.protection_width), magnitude_share=p.magnitude_share
    )


def printed_files(docs: Iterable[Path]) -> dict[str, str]:
    """Every table the saved report documents in ``docs`` print (their ``printed/`` CSVs):
    name -> text."""
    from analysis.reports.report import PRINTED_DIR

    return {
        p.name: p.read_text(encoding="utf-8")
        for d in docs
        for p in sorted((Path(d) / PRINTED_DIR).glob("*.csv"))
    }


def saved_printed_files(cfg: Config) -> dict[str, str]:
    """The reports' printed tables as the last build's audit kept them (``analysis audit``)."""
    return printed_files([folder(cfg)])


def read_provenance(paths: Iterable[Path]) -> dict[str, list[str | None]]:
    """The release row of each CSV row, from the report writer's provenance files."""
    out: dict[str, list[str | None]] = {}
    for p in paths:
        out.update(json.loads(p.read_text(encoding="utf-8")))
    return out


def run(
    cfg: Config,
    files: Mapping[str, str],
    provenance: Mapping[str, list[str | None]],
    *,
    engines: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Attack the release printed in ``files`` (see the module doc); the full report.

    ``engines`` ``None`` (the render stage): both where G-Confid's environment is installed (a
    checkout after ``make setup``); an installed package has no ``tools/gconfid``, so there the
    project's exact engine runs alone, with a warning, and the report records G-Confid as not run.
    ``analysis audit`` asks for the engines it is given and fails if one cannot run."""
    from analysis.analyse import load_structure
    from analysis.disclosure import gconfid

    if engines is None:
        if gconfid.available():
            engines = ENGINES
        else:
            log.warning(
                "G-Confid's environment is not installed (a checkout's scripts/setup.sh installs "
                "it): the release is audited by the project's exact engine alone"
            )
            engines = ("highs",)

    release = read_release(cfg.paths.results / RELEASE_DIR)
    report = audit(
        release,
        files,
        provenance,
        load_structure(cfg),
        rule(cfg),
        round_base=cfg.privacy.round_base,
        engines=engines,
    )
    report["summary"] = summary(report)
    return report


def save(
    cfg: Config,
    report: Mapping[str, Any],
    provenance: Mapping[str, Any],
    printed: Mapping[str, str] | None = None,
) -> Path:
    """Write the audit's report and the provenance it read; with ``printed``, the reports'
    tables too (``printed/``, replaced whole), so ``analysis audit`` can attack the same
    release later."""
    from analysis.io import atomic_dir, write_json
    from analysis.reports.report import PRINTED_DIR

    d = folder(cfg)
    if printed is not None:
        with atomic_dir(d / PRINTED_DIR, record=False) as tmp:
            for name, text in sorted(printed.items()):
                (tmp / name).write_text(text, encoding="utf-8", newline="")
    write_json(dict(provenance), d / PRINTED_FILE)
    return write_json(dict(report), d / AUDIT_FILE)


def failure_message(report: Mapping[str, Any]) -> str:
    """Why the audit failed, naming the first few exposed values (never a value itself)."""
    parts = []
    for name, e in report["engines"].items():
        for f in e.get("failures", [])[:5]:
            where = ", ".join(f.get("printed_in", [])[:3]) or f.get("about", "")
            parts.append(
                f"{name}: {f.get('value_kind', '')} {f.get('cell', '')} ({where}): {f['rule']}"
            )
    for p in report["file_problems"][:5]:
        where = p.get("file") or ", ".join(p.get("printed_in", [])[:3]) or p.get("about", "")
        parts.append(f"{where}: {p['rule']}")
    s = report["summary"]
    return (
        f"audit: {sum(s['failures'].values())} exposed values and {s['file_problems']} printing "
        f"problems in {s['files']} published files; nothing is published. " + "; ".join(parts)
    )


def gate(report: Mapping[str, Any]) -> None:
    """Raise :class:`DisclosureError` unless the audit passed."""
    if not report["passed"]:
        raise DisclosureError(failure_message(report))
