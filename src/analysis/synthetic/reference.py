"""The reference tables: 72 school boards and 50 children's aid societies, with the FSA pools.

Boards: 31 English public, 29 English Catholic, 4 French public and 8 French Catholic, each in a
region (every French board kind spread over the regions, the English ones by population; the two
largest boards in Toronto). Societies: 34 mainstream, 3 faith-based and 13 Indigenous child and
family well-being agencies. ``size_weight`` is the share of students or children each one draws.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.domain.vocab import REGION_FR, REGIONS
from analysis.synthetic.postal import fsa_pools

BOARD_KINDS = (
    [("en", "public")] * 31
    + [("en", "catholic")] * 29
    + [("fr", "public")] * 4
    + [("fr", "catholic")] * 8
)
# Where English boards sit (French boards go round the regions in turn).
ENGLISH_BOARD_REGION_P = np.array([0.06, 0.30, 0.22, 0.24, 0.18])
TORONTO_BOARDS = (0, 31)  # the large English public and Catholic boards

MAINSTREAM_SOCIETY_REGIONS = (
    ["Toronto"] * 2 + ["Central"] * 9 + ["East"] * 8 + ["Southwest"] * 9 + ["North"] * 6
)
FRENCH_SOCIETIES = (15, 20)
FAITH_SOCIETIES = (
    ("Catholic Children's Aid Society", "Toronto"),
    ("Jewish Family and Child Service", "Toronto"),
    ("Catholic Children's Aid Society", "Central"),
)
INDIGENOUS_SOCIETY_REGIONS = ["North"] * 8 + ["Southwest"] * 3 + ["East"] * 2


def reference_tables(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """``(boards, societies, fsas)``: the two reference tables and the FSA pool of each region."""
    boards = _boards(rng)
    societies = _societies(rng)
    return boards, societies, fsa_pools(rng)


def _boards(rng: np.random.Generator) -> pl.DataFrame:
    # Every region has at least one board of each kind where possible; the rest by population.
    region_of = []
    for i, (lang, _typ) in enumerate(BOARD_KINDS):
        if lang == "fr":
            region_of.append(REGIONS[i % 5])
        else:
            region_of.append(REGIONS[rng.choice(5, p=ENGLISH_BOARD_REGION_P)])
    for i in TORONTO_BOARDS:
        region_of[i] = "Toronto"
    size = rng.lognormal(0.0, 0.9, size=72)
    for i in TORONTO_BOARDS:
        size[i] *= 12.0  # the large Toronto boards
    for i, (lang, _) in enumerate(BOARD_KINDS):
        if lang == "fr":
            size[i] *= 0.25
    rows = []
    counters: dict[tuple[str, str, str], int] = {}
    for i, ((lang, typ), reg) in enumerate(zip(BOARD_KINDS, region_of, strict=True)):
        counters[(lang, typ, reg)] = counters.get((lang, typ, reg), 0) + 1
        k = counters[(lang, typ, reg)]
        if lang == "en":
            name = f"{reg} {'Catholic ' if typ == 'catholic' else ''}District School Board {k}"
        else:
            name = f"Conseil scolaire {'catholique' if typ == 'catholic' else 'public'} {REGION_FR[reg]} {k}"
        rows.append((f"B{i + 1:02d}", name, typ, lang, reg, float(size[i])))
    return pl.DataFrame(
        rows,
        schema=["board_id", "board_name", "board_type", "language", "region", "size_weight"],
        orient="row",
    )


def _societies(rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    sid = 0
    for reg in MAINSTREAM_SOCIETY_REGIONS:
        sid += 1
        rows.append(
            (
                f"S{sid:02d}",
                f"Children's Aid Society of {reg} {sid}",
                False,
                False,
                reg,
                "fr" if sid in FRENCH_SOCIETIES else "en",
                float(rng.lognormal(0, 0.6)),
            )
        )
    for name, reg in FAITH_SOCIETIES:
        sid += 1
        rows.append(
            (f"S{sid:02d}", f"{name} ({reg})", False, True, reg, "en", float(rng.lognormal(0, 0.4)))
        )
    for reg in INDIGENOUS_SOCIETY_REGIONS:
        sid += 1
        rows.append(
            (
                f"S{sid:02d}",
                f"Indigenous Child and Family Well-Being Agency {sid} ({reg})",
                True,
                False,
                reg,
                "en",
                float(rng.lognormal(-0.3, 0.5)),
            )
        )
    return pl.DataFrame(
        rows,
        schema=[
            "society_id",
            "society_name",
            "indigenous",
            "faith_based",
            "region",
            "language",
            "size_weight",
        ],
        orient="row",
    )
