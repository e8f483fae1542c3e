"""The stage: sources and links in, ``analytic/`` out (atomically), with ``risk.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from analysis.config import Config
from analysis.deidentify.analytic import build_analytic
from analysis.deidentify.contract import REFERENCE
from analysis.deidentify.errors import DeidentifyError
from analysis.deidentify.inputs import SOURCES, read_inputs
from analysis.deidentify.keys import load_key
from analysis.io import atomic_dir, write_json, write_parquet
from analysis.stages import StageResult


def run(cfg: Config) -> StageResult:
    """Write ``cfg.paths.analytic`` from the sources and links (atomically).

    Raises
    ------
    DeidentifyError
        Missing key (real data), short key, missing inputs. Nothing is written then.
    """
    key = load_key(cfg.privacy, cfg.seed)  # before anything is read or written
    f, big = read_inputs(cfg)
    tables, risk, heights = build_analytic(f, key, cfg, big)
    risk["key"] = {"fingerprint": key.fingerprint(), "source": key.source}
    k, l_div = cfg.privacy.k_anonymity, cfg.privacy.l_diversity
    check = risk["published_check"]
    failing = sorted(n for n, m in check.items() if isinstance(m, dict) and not m["holds"])
    if not (
        risk["student_years_generalisation"]["holds"]
        and risk["cw_persons_generalisation"]["holds"]
        and risk["join_suppression"]["holds"]
        and check["holds"]
    ):
        raise DeidentifyError(
            f"k-anonymity (k={k}) or l-diversity (l={l_div}) does not hold after "
            f"generalisation (failing on the tables as written: {', '.join(failing) or 'none'}); "
            "nothing written"
        )
    outputs: list[Path] = []
    with atomic_dir(cfg.paths.analytic) as stage:
        for name, df in tables.items():
            if isinstance(df, pl.LazyFrame):
                _sink_parquet(df, stage / f"{name}.parquet")
            else:
                write_parquet(df, stage / f"{name}.parquet")
        for name in REFERENCE:
            write_parquet(f[name], stage / f"{name}.parquet")
        write_json(risk, stage / "risk.json")
        # Linkage quality is aggregate (rates and counts by group, no identifier): the reports
        # cite it, and must not have to open the linkage zone to do so.
        quality = cfg.paths.linkage / "quality.json"
        if quality.exists():
            write_json(
                json.loads(quality.read_text(encoding="utf-8")), stage / "linkage_quality.json"
            )
        # So is the generator's calibration check (targets against the synthetic province; none
        # for a real extract): the methodology page shows it.
        calibration = cfg.paths.sources / "calibration.json"
        if calibration.exists():
            write_json(
                json.loads(calibration.read_text(encoding="utf-8")), stage / "calibration.json"
            )
    for name in [*tables, *REFERENCE, "risk"]:
        outputs.append(cfg.paths.analytic / (f"{name}.parquet" if name != "risk" else "risk.json"))
    rows = {
        f"{n} in": big[n].select(pl.len()).collect().item() if n in big else f[n].height
        for n in (*SOURCES, "links")
    }
    rows.update({f"{n} out": heights[n] for n in tables})
    return StageResult(
        stage="deidentify",
        outputs=outputs,
        rows=rows,
        metrics={
            "key_fingerprint": key.fingerprint(),
            "key_source": key.source,
            "development_key": key.is_development,
            "k": min_k(risk, "student_years"),
            "k_cw_persons": risk["cw_persons_after"]["k"],
            "l": min(
                (
                    m["l"]
                    for name, m in risk["student_years_after"].items()
                    if m.get("l") is not None and risk["summary"][name]["enforced"]
                ),
                default=None,
            ),
            "study_id_suppressed_in_cw_persons": risk["join_suppression"]["study_id_suppressed"],
        },
    )


def min_k(risk: dict[str, Any], table: str) -> int | None:
    """The smallest class over the enforced sets on ``table`` after protection."""
    ks = [
        rec["after"]["k"]
        for rec in risk["summary"].values()
        if rec["table"] == table and rec["enforced"] and rec.get("after", {}).get("k") is not None
    ]
    return min(ks) if ks else None


def _sink_parquet(lf: pl.LazyFrame, path: Path) -> Path:
    """Stream ``lf`` to ``path`` with the options of :func:`analysis.io.write_parquet` (the same
    frame gives the same bytes either way); the frame is never materialised whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lf.sink_parquet(path, compression="zstd", statistics=False, row_group_size=1_000_000)
    return path


def dump_risk(risk: dict[str, Any]) -> str:
    """``risk.json`` as text (stable)."""
    return json.dumps(risk, indent=2, sort_keys=True, default=str)
