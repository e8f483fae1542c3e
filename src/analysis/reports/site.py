"""The methodology page: how the records were linked, de-identified and protected, with the row
accounting of every stage. Every number on it passes the disclosure module like any other."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from analysis.analyse import load_results
from analysis.analyse.methodology import calibration
from analysis.config import Config
from analysis.reports.render import default_methodology
from analysis.reports.report import Report
from analysis.reports.sections import link_threshold, linkage_budget, linkage_quality


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
        threshold=r.pct(link_threshold(cfg, data), 1, proportion=True),
    )
    linkage_budget(r, data)
    groups = results["methodology_linkage_by_group"]
    r.table(groups, "caption.linkage_by_group", formats={"rate": "percent"})
    risk = cfg.paths.analytic / "risk.json"
    if risk.exists():
        risk_section(r, json.loads(risk.read_text(encoding="utf-8")), cfg.privacy.k_anonymity)
    cal = calibration(cfg)
    if cal is not None:
        r.heading("heading.calibration")
        r.text(
            "method.calibration",
            targets=cal["targets"],
            holding=cal["holding"],
            scale=cal["scale"],
            seed=str(cal["seed"]),
        )
        # The targets are published figures; the synthetic values rest on n people or cases.
        r.table(
            results["methodology_calibration"],
            "caption.calibration",
            formats={"target_value": "decimal2", "synthetic": "decimal2", "allowed": "decimal2"},
            labels={"n": "col.calibration_n"},
        )
        r.heading("heading.calibration_sources", level=3).text("method.calibration_sources")
        sources: dict[str, str] = {}
        for c in cal["checks"]:
            key = (
                "eqao" if c["name"].startswith("eqao_") and "ratio" not in c["name"] else c["name"]
            )
            sources.setdefault(key, c["source"])
        for key, source in sources.items():
            if lang == "en":
                r.text("method.calibration_source", target=r.t(f"value.{key}"), source=source)
            else:  # the sources are cited as published, in English, and marked so
                r.text(
                    "method.calibration_source", target=r.t(f"value.{key}"), source="", quote=source
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
    failures = sum(summary["failures"].values())
    r.heading("heading.audit")
    r.text(
        "method.audit",
        examined=int(summary["examined"]),
        relations=int(summary["relations"]),
        width=r.num(cfg.privacy.protection_width),
        threshold=cfg.privacy.min_cell,
    )
    both = "gconfid" in summary["engines_run"]
    r.text("method.audit_engines_both" if both else "method.audit_engine_own")
    r.text(
        "method.audit_result",
        failures=r.t("method.audit_none") if not failures else r.num(failures),
    )
    return r


# the quasi-identifier sets of risk.json's summary the page states, by (table, adversary)
RISK_SETS = (
    ("student_years", "school", "school"),
    ("student_years", "community", "community"),
    ("student_years", "child_welfare", "child_welfare"),
    ("cw_persons", "child_welfare", "cw_persons"),
)


def risk_section(r: Report, risk: Mapping[str, Any], k: int) -> Report:
    """The threat model and the k achieved on each quasi-identifier set, from ``risk.json``
    (shares and smallest group sizes only: no identifier, no small count)."""
    r.heading("heading.risk")
    r.text("method.risk_audience")
    r.text("method.risk_adversaries")
    r.text("method.risk", k=k, risk=r.pct(1 / k, 0, proportion=True))
    summary = risk.get("summary", {})
    by_kind = {
        (rec["table"], rec["adversary"]): rec for rec in summary.values() if rec.get("enforced")
    }
    values: dict[str, Any] = {"k": k}
    items = []
    for table, adversary, key in RISK_SETS:
        rec = by_kind.get((table, adversary))
        if rec is None or "after" not in rec:
            continue
        values[f"k_{key}"] = int(rec["after"].get("k") or k)
        values[f"before_{key}"] = r.pct(rec["before"]["below_k_share"], 1, proportion=True)
        values[f"after_{key}"] = r.pct(rec["after"]["below_k_share"], 1, proportion=True)
        items.append(f"method.risk_set.{key}")
    join = risk.get("join_suppression")
    joined = next((rec for rec in summary.values() if rec.get("adversary") == "both"), None)
    if join and joined and join.get("linked_persons"):
        values["before_join"] = r.pct(joined["before"]["below_k_share"], 1, proportion=True)
        values["delinked"] = r.pct(
            join["study_id_suppressed"] / join["linked_persons"], 0, proportion=True
        )
        items.append("method.risk_set.join")
    if items:
        r.text("method.risk_sets", k=k)
        r.items(items, **values)
    util = risk.get("student_years_utility", {}).get("after", {})
    if util:
        every, cw = util.get("all", {}), util.get("cw_involved", {})
        r.text(
            "method.risk_utility",
            board=r.pct(every.get("board_id_kept"), 0, proportion=True),
            grade=r.pct(every.get("grade_kept"), 0, proportion=True),
            gender=r.pct(every.get("gender_kept"), 0, proportion=True),
            race=r.pct(cw.get("race_group_kept"), 0, proportion=True),
            identity=r.pct(cw.get("gender_identity_kept"), 0, proportion=True),
        )
    r.text("method.risk_residual", k=k)
    return r
