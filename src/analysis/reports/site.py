"""The methodology page: how the records were linked, de-identified and protected, with the row
accounting of every stage. Every number on it passes the disclosure module like any other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis.analyse import load_results
from analysis.config import Config
from analysis.reports.render import default_methodology
from analysis.reports.report import Report
from analysis.reports.sections import linkage_quality


def methodology(cfg: Config, lang: str) -> Report:
    """The methodology page in ``lang``, with linkage quality, risk and row accounting."""
    r = default_methodology(lang, threshold=cfg.privacy.min_cell)
    results = load_results(cfg)
    data = linkage_quality(cfg)
    r.heading("heading.linkage_quality")
    if data.get("truth_available"):
        r.text(
            "method.linkage_measured",
            precision=r.pct(data["precision"], 2, proportion=True),
            recall=r.pct(data["recall"], 2, proportion=True),
            f1=r.pct(data["f1"], 2, proportion=True),
        )
    r.text(
        "method.linkage_passes",
        threshold=r.pct(cfg.linkage.match_threshold, 0, proportion=True),
    )
    groups = results["methodology_linkage_by_group"]
    r.table(groups, "caption.linkage_by_group", formats={"rate": "percent"})
    risk = cfg.paths.analytic / "risk.json"
    if risk.exists():
        r.heading("heading.risk")
        r.text(
            "method.risk",
            k=cfg.privacy.k_anonymity,
            risk=r.pct(1 / cfg.privacy.k_anonymity, 0, proportion=True),
        )
    acc = results.get("methodology_row_accounting")
    if acc is not None and acc.df.height:
        r.heading("heading.row_accounting").text("method.row_accounting")
        # Row counts of whole source files are not about small groups, but they pass the same gate.
        r.table(acc, "caption.row_accounting")
    norm = results.get("methodology_normalisations")  # only when the extract needed any
    if norm is not None and norm.df.height:
        r.heading("heading.normalisations").text("method.normalisations")
        r.table(norm, "caption.normalisations")
    return r


def audit_section(r: Report, summary: Mapping[str, Any], cfg: Config) -> Report:
    """The audit of the whole release (:mod:`analysis.reports.audit`): what was attacked, how,
    and what failed (its time is in the manifest: the page is the same bytes on every run)."""
    engines = {"highs": "HiGHS", "gconfid": "G-Confid"}
    failures = sum(summary["failures"].values())
    r.heading("heading.audit")
    r.text(
        "method.audit",
        examined=int(summary["examined"]),
        relations=int(summary["relations"]),
        width=r.num(cfg.privacy.protection_width),
        threshold=cfg.privacy.min_cell,
        engines=", ".join(engines.get(e, e) for e in summary["engines_run"]),
    )
    r.text(
        "method.audit_result",
        failures=r.t("method.audit_none") if not failures else r.num(failures),
    )
    return r
