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

from pathlib import Path

from analysis.config import Config
from analysis.reports.opendata.files import FOLDER, INDEX
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
    "Finding",
    "Screening",
    "ScreenerError",
    "publish",
    "require_pass",
    "screen_dir",
    "screen_file",
    "site_links",
]


def publish(cfg: Config, root: Path) -> Screening:
    """Write the open data files under ``root`` (the reports folder, or its staging copy), screen
    them (:class:`ScreenerError` on any failure), then write the catalogue and the table tool
    from the screened files; return the screening."""
    from analysis.analyse import load_results
    from analysis.reports.opendata import files, pages

    index = files.write(cfg, load_results(cfg), root / FOLDER, files.places(cfg))
    screening = require_pass(root / FOLDER)
    pages.write_pages(root, index, tuple(cfg.reports.languages))
    return screening
