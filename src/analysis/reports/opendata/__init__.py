"""The release's open data: tidy files to a published standard, their screener, the data
catalogue and the table tool.

``reports/data/open/`` holds one ``<name>.csv`` per file with its ``<name>.meta.csv`` and the
release index ``datasets.json``; ``reports/data-catalogue-<lang>.html`` lists them and
``reports/explore/`` is the table tool. Everything is built from the protected results tables
(:func:`analysis.analyse.load_results`), the same release as the reports.

Modules: :mod:`.standard` (the standard, written once), :mod:`.datasets` (what each file holds and
how it is built from the published tables), :mod:`.files` (writing them), :mod:`.screener` (the
checks), :mod:`.pages` (catalogue and table tool).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.config import Config
from analysis.reports.opendata.files import FOLDER, INDEX, audit_files
from analysis.reports.opendata.pages import site_links
from analysis.reports.opendata.screener import (
    CHECKS,
    Finding,
    ScreenerError,
    Screening,
    require_pass,
    screen_dir,
    screen_file,
)

__all__ = [
    "CHECKS",
    "FOLDER",
    "INDEX",
    "Published",
    "audit_files",
    "Finding",
    "Screening",
    "ScreenerError",
    "publish",
    "require_pass",
    "screen_dir",
    "screen_file",
    "site_links",
]


@dataclass
class Published:
    """What :func:`publish` wrote: the screening, and for the audit, the files as it reads them
    (:func:`~analysis.reports.opendata.files.audit_files`) with the release row of every row."""

    screening: Screening
    files: dict[str, str]
    provenance: dict[str, list[str | None]]


def publish(cfg: Config, root: Path) -> Published:
    """Write the open data files under ``root`` (the reports folder, or its staging copy), screen
    them (:class:`ScreenerError` on any failure), then write the catalogue and the table tool
    from the screened files."""
    from analysis.analyse import load_results
    from analysis.reports.opendata import files, pages

    sources: dict[str, list[str | None]] = {}
    index = files.write(cfg, load_results(cfg), root / FOLDER, files.places(cfg), sources)
    screening = require_pass(root / FOLDER)
    pages.write_pages(root, index, tuple(cfg.reports.languages))
    return Published(screening, files.audit_files(root / FOLDER), sources)
