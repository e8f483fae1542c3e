"""The generated codebook: every column of every source, its meaning, type and allowed values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import cast

import polars as pl

from analysis.config import Config
from analysis.io import write_json
from analysis.synthetic.effects import planted_effects

MEANINGS: dict[str, str] = {
    "oen": "Ontario Education Number: 9 digits, the last a Luhn check digit (synthetic rule; the real rule is not public)",
    "first_name": "Legal first name (child-welfare records may hold a preferred name or a typo)",
    "last_name": "Legal surname (child-welfare records may hold a changed or hyphenated surname)",
    "birth_date": "Date of birth",
    "gender": "Gender as recorded by the school (female, male, another)",
    "postal_code": "Ontario postal code 'A1A 1A1' (first letter K, L, M, N or P)",
    "board_id": "District school board (B01-B72)",
    "school_id": "School within the board (E = elementary, S = secondary)",
    "school_year": "School year, 1 September to 30 June",
    "grade": "Grade JK, K, 1-12",
    "days_enrolled": "School days enrolled this year",
    "days_absent": "School days absent this year",
    "credits_earned": "Secondary credits earned this year (grades 9-12; null below)",
    "assessment": "EQAO assessment",
    "participation": "participated, absent, exempt or not_participating",
    "level": "EQAO achievement level 1-4 (3 and 4 are at or above the provincial standard)",
    "osslt_result": "OSSLT result: pass or fail",
    "first_time": "First eligible attempt at the OSSLT",
    "g9_stream": "Grade 9 math course: academic, applied (to 2020-21) or destreamed (from 2021-22)",
    "cw_record_id": "Child-welfare record (one child may have two records)",
    "society_id": "Children's aid society (S01-S50)",
    "gender_identity": "Gender identity as recorded by the society",
    "race": "Race category (Ontario Data Standards for the Identification and Monitoring of Systemic Racism); null = missing",
    "born_outside_canada": "Born outside Canada; null = not recorded",
    "first_language": "First language learned at home: english, french, other; null = not recorded",
    "human_trafficking_risk": "Flag: identified as at risk of human trafficking",
    "episode_id": "Service episode",
    "service_type": "Service: extended/interim society care, customary care, kinship service, CCSYP, VYSA",
    "start_date": "Start of the episode or placement",
    "end_date": "End of the episode or placement (null = open at the extract end, 2023-08-31)",
    "placement_id": "Placement",
    "placement_type": "Placement type",
    "case_id": "Family protection case (for performance indicators 1 and 2)",
    "case_kind": "investigation or ongoing_protection",
    "closed_date": "Date the case was closed",
    "recurrence_date": "First new investigation after closing (null = none before the extract end)",
    "recurrence_verified": "That new investigation verified a protection concern",
    "assessment_id": "OnLAC assessment",
    "assessment_date": "Date of the OnLAC assessment",
    "item_1": "Caregiver-youth relationship item 1 (0-2)",
    "item_2": "Caregiver-youth relationship item 2 (0-2)",
    "item_3": "Caregiver-youth relationship item 3 (0-2)",
    "item_4": "Caregiver-youth relationship item 4 (0-2)",
}
IDENTIFIERS = {"oen", "first_name", "last_name", "birth_date", "postal_code", "cw_record_id"}


def describe(frames: dict[str, pl.DataFrame]) -> list[dict]:
    """One entry per column of every source: meaning, type, allowed values, nulls, identifier."""
    out = []
    for key, df in frames.items():
        folder, name = key.split("/")
        if folder != "sources":
            continue
        for col in df.columns:
            s = df[col]
            allowed: list | str
            if col in IDENTIFIERS or col.endswith("_id") and col not in ("board_id", "society_id"):
                allowed = "identifier / key (values not listed)"
            elif s.dtype == pl.Utf8 and s.n_unique() <= 20:
                allowed = sorted(v for v in s.unique().to_list() if v is not None)
            elif s.dtype.is_numeric() or s.dtype == pl.Date:
                # numeric or date column: min/max are numbers or dates (None if all null), never
                # bytes, so the f-string prints the value itself
                lo = cast("int | float | Decimal | date | None", s.min())
                hi = cast("int | float | Decimal | date | None", s.max())
                allowed = f"{lo} to {hi}" if col not in IDENTIFIERS else "identifier"
            else:
                allowed = f"{s.n_unique()} distinct values"
            out.append(
                {
                    "table": name,
                    "column": col,
                    "type": str(s.dtype),
                    "meaning": MEANINGS.get(col, ""),
                    "allowed": allowed,
                    "identifier": col in IDENTIFIERS,
                    "null_share": round(s.null_count() / max(1, len(s)), 4),
                }
            )
    return out


def write_codebook(folder: Path, frames: dict[str, pl.DataFrame], cfg: Config) -> None:
    """Write ``codebook.json`` and ``codebook.md`` (with the planted effects) into ``folder``."""
    entries = describe(frames)
    write_json(
        {"columns": entries, "planted_effects": planted_effects(cfg)}, folder / "codebook.json"
    )
    lines = [
        "# Codebook of the synthetic sources",
        "",
        f"Seed {cfg.seed}, scale `{cfg.scale}`. Identifier columns are marked; their values are never listed.",
        "",
    ]
    table = None
    for e in entries:
        if e["table"] != table:
            table = e["table"]
            lines += [
                "",
                f"## {table}",
                "",
                "| column | type | meaning | allowed values | nulls |",
                "|---|---|---|---|---|",
            ]
        allowed = (
            ", ".join(map(str, e["allowed"])) if isinstance(e["allowed"], list) else e["allowed"]
        )
        lines.append(
            f"| `{e['column']}`{' (identifier)' if e['identifier'] else ''} | {e['type']} | {e['meaning']} | {allowed} | {e['null_share']:.1%} |"
        )
    pe = planted_effects(cfg)
    lines += [
        "",
        "## Planted effects",
        "",
        *[f"- `{k}`: {v}" for k, v in pe["effects"].items()],
        "",
        f"- EQAO model: {pe['eqao_model']}",
        f"- Attendance model: {pe['attendance_model']}",
        f"- Credits model: {pe['credits_model']}",
        "",
    ]
    (folder / "codebook.md").write_text("\n".join(lines), encoding="utf-8")
