"""The identifier scan: is any source identifier (or a plain hash of an OEN) in an output file?"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Hit:
    """One identifier found in an output file (``kind`` only: the value is never kept)."""

    path: Path
    kind: str  # "oen", "name", "birth_date", "postal_code", "oen_sha256", "oen_md5"
    count: int

    def __str__(self) -> str:
        return f"{self.path}: {self.count} occurrences of a source {self.kind}"


def _identifier_sets(sources_dir: Path) -> dict[str, set[str]]:
    sets: dict[str, set[str]] = {
        "oen": set(),
        "name": set(),
        "birth_date": set(),
        "postal_code": set(),
    }
    for name in ("onsis_enrolment", "cpin_persons", "eqao_results"):
        p = sources_dir / f"{name}.parquet"
        if not p.is_file():
            continue
        df = pl.read_parquet(p)
        if "oen" in df.columns:
            sets["oen"] |= set(df["oen"].drop_nulls().to_list())
        if "first_name" in df.columns:
            full = (
                df.select(pl.concat_str("first_name", "last_name", separator=" "))
                .to_series()
                .drop_nulls()
            )
            sets["name"] |= {" ".join(_TOKEN.findall(s.lower())) for s in full.to_list()}
        if "birth_date" in df.columns:
            sets["birth_date"] |= {d.isoformat() for d in df["birth_date"].drop_nulls().to_list()}
        if "postal_code" in df.columns:
            pcs = df["postal_code"].drop_nulls().to_list()
            sets["postal_code"] |= {pc.upper() for pc in pcs} | {
                pc.upper().replace(" ", "") for pc in pcs
            }
    sets["oen_sha256"] = {hashlib.sha256(o.encode()).hexdigest() for o in sets["oen"]}
    sets["oen_md5"] = {hashlib.md5(o.encode()).hexdigest() for o in sets["oen"]}  # noqa: S324
    return sets


def _file_text(path: Path) -> tuple[str | None, str]:
    """Text of a file for scanning, or (None, why it was skipped)."""
    suf = path.suffix.lower()
    if suf == ".parquet":
        df = pl.read_parquet(path)
        parts = [" ".join(df.columns)]
        for c in df.columns:
            s = df[c]
            if s.dtype == pl.Date:
                s = s.dt.to_string("%Y-%m-%d")
            parts.append("\n".join(str(v) for v in s.cast(pl.String).drop_nulls().to_list()))
        return "\n".join(parts), ""
    if suf == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            return None, "PDF skipped: pypdf not installed"
        r = PdfReader(str(path))
        meta = " ".join(str(v) for v in (r.metadata or {}).values())
        return meta + "\n" + "\n".join(pg.extract_text() or "" for pg in r.pages), ""
    data = path.read_bytes()
    return data.decode("utf-8", errors="replace"), ""


def scan_for_identifiers(roots: list[Path], sources_dir: Path) -> list[Hit]:
    """Every occurrence of a source identifier in any file under ``roots``.

    Looks for every OEN, full name (first + last, case-insensitive), full birth date (ISO
    ``YYYY-MM-DD``), full postal code (with or without its space), and the plain SHA-256 and MD5
    hex digests of every OEN. Files: parquet (every value), PDF (text and metadata, via pypdf;
    skipped with a logged note if pypdf is missing), and everything else as UTF-8 text (CSV,
    JSON, HTML, SVG, ...).

    Returns
    -------
    list[Hit]
        One per file and kind found; empty when clean. Values are never returned.
    """
    sets = _identifier_sets(sources_dir)
    hex_sets = {k: sets[k] for k in ("oen_sha256", "oen_md5")}
    hits: list[Hit] = []
    files = [
        p for r in roots if Path(r).exists() for p in sorted(Path(r).rglob("*")) if p.is_file()
    ]
    for path in files:
        text, note = _file_text(path)
        if text is None:
            log.warning("%s: %s", path, note)
            continue
        upper = text.upper()
        tokens = set(_TOKEN.findall(text))
        lower_tokens = {t.lower() for t in tokens}
        counts: dict[str, int] = {}
        counts["oen"] = len(tokens & sets["oen"])
        for kind, s in hex_sets.items():
            counts[kind] = len(lower_tokens & s)
        counts["birth_date"] = sum(
            1 for d in set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) if d in sets["birth_date"]
        )
        pcs = set(re.findall(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", upper))
        counts["postal_code"] = len(pcs & sets["postal_code"])
        low = " ".join(_TOKEN.findall(text.lower()))
        words = low.split()
        grams = {" ".join(words[i : i + n]) for n in (2, 3, 4) for i in range(len(words) - n + 1)}
        counts["name"] = len(grams & sets["name"])
        for kind, n in counts.items():
            if n:
                hits.append(Hit(path, kind, n))
    return hits


def scan_notes(roots: list[Path]) -> list[str]:
    """Files the scanner could not read (e.g. PDFs without pypdf)."""
    notes = []
    for r in roots:
        for p in sorted(Path(r).rglob("*.pdf")) if Path(r).exists() else []:
            _, note = _file_text(p)
            if note:
                notes.append(f"{p}: {note}")
    return notes
