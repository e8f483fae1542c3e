"""The build manifest: what went in, what came out, and how (never the secret key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.config import Config
from analysis.io import hash_tree, write_json

MANIFEST = "manifest.json"


def stage_records(cfg: Config) -> dict[str, dict[str, Any]]:
    """Row counts and metrics each stage recorded when it last ran."""
    out = {}
    state = cfg.paths.data_dir / ".state"
    for name in ("generate", "validate", "link", "deidentify", "analyse"):
        f = state / f"{name}.json"
        if f.exists():
            d = json.loads(f.read_text())
            out[name] = {"rows": d.get("rows", {}), "metrics": d.get("metrics", {})}
    return out


def _stable(obj: Any) -> Any:
    """Drop timings and memory readings: the manifest of two identical builds is identical."""
    if isinstance(obj, dict):
        return {
            k: _stable(v)
            for k, v in obj.items()
            if not (k.endswith("_s") or any(w in k for w in ("seconds", "timings", "peak_", "rss")))
        }
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def write(cfg: Config, reports_root: Path, entries: list[dict[str, Any]]) -> Path:
    """Write ``reports_root/manifest.json`` (hashes every file already under ``reports_root``)."""
    from analysis.pipeline import _code_version

    stages = stage_records(cfg)
    deid = stages.get("deidentify", {}).get("metrics", {})
    key = {k: deid[k] for k in ("key_fingerprint", "key_source", "development_key") if k in deid}
    inputs = {}
    for name, root in (("analytic", cfg.paths.analytic), ("results", cfg.paths.results)):
        inputs.update({f"{name}/{rel}": d for rel, d in hash_tree(root).items()})
    outputs = {rel: d for rel, d in hash_tree(reports_root).items() if rel != MANIFEST}
    manifest = {
        "title": "Annual report build (synthetic data)",
        "seed": cfg.seed,
        "scale": cfg.scale,
        "code_version": _code_version(),
        "config_sha256": cfg.fingerprint(),
        "config": json.loads(cfg.to_json()),
        "thresholds": {
            "min_cell": cfg.privacy.min_cell,
            "protection_width": cfg.privacy.protection_width,
            "k_anonymity": cfg.privacy.k_anonymity,
            "l_diversity": cfg.privacy.l_diversity,
            "round_base": cfg.privacy.round_base,
            "match_threshold": cfg.linkage.match_threshold,
            "high_confidence": cfg.linkage.high_confidence,
            "max_bad_row_share": cfg.validation.max_bad_row_share,
        },
        "study_key": key,
        "rows_per_stage": {k: v["rows"] for k, v in stages.items()},
        "stage_metrics": {
            k: v["metrics"] for k, v in stages.items() if k in ("link", "deidentify", "analyse")
        },
        "reports": [
            {k: e[k] for k in ("slug", "kind", "audience", "lang", "title", "html", "pdf", "csvs")}
            for e in entries
        ],
        "inputs": inputs,
        "outputs": outputs,
    }
    return write_json(manifest, reports_root / MANIFEST)
