"""The build manifest: what went in, what came out, and how (never the secret key)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from analysis.config import REPO_ROOT, Config
from analysis.io import hash_tree, sha256_file, write_json

MANIFEST = "manifest.json"

PACKAGE = Path(__file__).resolve().parent
# Modules every stage runs on.
CORE_CODE = ("config.py", "io.py", "stages.py")
# The code each stage runs, by package: a change in any of it re-runs the stage (and, for render,
# re-renders every report). The layout makes this a short list rather than a list of modules.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "generate": ("synthetic", "domain"),
    "validate": ("validate", "domain"),
    "link": ("linkage", "domain"),
    "deidentify": ("deidentify", "domain"),
    "analyse": ("analyse", "disclosure", "domain"),
    "render": ("reports", "disclosure", "domain", "manifest.py"),
}


def code_digest(parts: tuple[str, ...]) -> str:
    """SHA-256 over the source files (and templates, catalogues) of ``parts`` of the package."""
    h = hashlib.sha256()
    for part in sorted({*CORE_CODE, *parts}):
        root = PACKAGE / part
        files = (
            {part: sha256_file(root)}
            if root.is_file()
            else {
                f"{part}/{rel}": d
                for rel, d in hash_tree(root).items()
                if "__pycache__" not in rel and not rel.endswith(".pyc")
            }
        )
        for rel, d in files.items():
            h.update(f"{rel}:{d}\n".encode())
    return h.hexdigest()


def code_version() -> str:
    """The git revision of the source (``-modified`` when ``src`` has uncommitted changes)."""
    if REPO_ROOT is None:  # an installed package: its version and a digest of its code
        from importlib.metadata import version

        return f"{version('analysis')}+{code_digest(('.',))[:12]}"
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        rev = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return (rev or "unknown") + ("-modified" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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


def write(
    cfg: Config,
    reports_root: Path,
    entries: list[dict[str, Any]],
    audit: dict[str, Any] | None = None,
) -> Path:
    """Write ``reports_root/manifest.json`` (hashes every file already under ``reports_root``;
    ``audit``: the summary of the release's audit, :mod:`analysis.reports.audit`)."""
    stages = stage_records(cfg)
    val = stages.get("validate", {}).get("metrics", {})
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
        "code_version": code_version(),
        "config_sha256": cfg.fingerprint(),
        "config": json.loads(cfg.to_json()),
        "thresholds": {
            "min_cell": cfg.privacy.min_cell,
            "protection_width": cfg.privacy.protection_width,
            "magnitude_share": cfg.privacy.magnitude_share,
            "k_anonymity": cfg.privacy.k_anonymity,
            "l_diversity": cfg.privacy.l_diversity,
            "round_base": cfg.privacy.round_base,
            "match_threshold": cfg.linkage.match_threshold,
            "false_link_budget_no_match": cfg.linkage.false_link_budget_no_match,
            "high_confidence": cfg.linkage.high_confidence,
            "max_bad_row_share": cfg.validation.max_bad_row_share,
        },
        "study_key": key,
        # how the extract was read, and what was normalised (file, column, kind, values)
        "validation": {
            "reading": val.get("reading", cfg.validation.reading),
            "normalisations": val.get("normalisations", []),
        },
        # its timings stay in the audit's own record: the manifest is the same bytes on a re-run
        "disclosure_audit": (
            {k: v for k, v in audit.items() if not k.startswith("seconds")} if audit else audit
        ),
        "rows_per_stage": {k: v["rows"] for k, v in stages.items()},
        "stage_metrics": {
            k: v["metrics"] for k, v in stages.items() if k in ("link", "deidentify", "analyse")
        },
        "reports": [
            {
                k: e[k]
                for k in ("slug", "kind", "audience", "lang", "title", "html", "pdf", "data_files")
            }
            for e in entries
        ],
        "inputs": inputs,
        "outputs": outputs,
    }
    return write_json(manifest, reports_root / MANIFEST)
