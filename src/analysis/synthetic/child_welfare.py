"""Children with child-welfare involvement: who they are, their service episodes and placements,
and the OnLAC caregiver-relationship items of youth in care.

Most of these children are students of the panel (their identity is the student's, their address
the latest one the school has); the rest have no student record (too young, in a First Nations
school, private or home schooled, or from outside Ontario) and get new identities. Each child
has one service episode (care, kinship service, VYSA or CCSYP), plus CCSYP after ageing out of
extended society care, and a few placements within each episode in care.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain import names
from analysis.domain.dates import EXTRACT_END, days_since_epoch, school_year_bounds
from analysis.domain.vocab import (
    FIRST_LANGUAGES,
    PLACEMENT_GROUP,
    PLACEMENT_TYPES,
    RACES,
    REGIONS,
    SERVICE_IN_CARE,
)
from analysis.synthetic.care_episodes import TooFewCandidates, care_episodes, fiscal_year_start
from analysis.synthetic.care_episodes import draw as draw_care
from analysis.synthetic.codes import unique_sorted
from analysis.synthetic.population import (
    GENDER_OF_CODE,
    GENDER_P,
    first_names,
    jan_first_days,
    last_names,
)
from analysis.synthetic.postal import postal_codes, postal_strings

EXTRACT_END_DAYS = days_since_epoch(EXTRACT_END)
NO_STUDENT_REASONS = ["too_young", "first_nations_school", "private_or_home", "outside_ontario"]
NO_STUDENT_REASON_P = [0.45, 0.2, 0.15, 0.2]
NO_STUDENT_REGION_P = np.array([0.1, 0.2, 0.15, 0.2, 0.35])
# drawn with RACE_P: the categories, then a missing race
RACE_OR_MISSING = (*RACES, None)
RACE_P = np.array([0.14, 0.03, 0.25, 0.02, 0.03, 0.05, 0.02, 0.40, 0.01, 0.02, 0.03])
NORTH_INDIGENOUS_P = 0.6  # RACE_P of "indigenous" in the North (before renormalising)
# drawn with FIRST_LANGUAGE_P: the languages, then a missing one
FIRST_LANGUAGE_OR_MISSING = [*FIRST_LANGUAGES, None]
FIRST_LANGUAGE_P = [0.82, 0.04, 0.12, 0.02]
INDIGENOUS_AGENCY_SHARE = 0.7  # of Indigenous children, served by an Indigenous agency
# Services of the children never in care (drawn with synthetic.other_service_shares)
OTHER_SERVICES = ["kinship_service", "vysa", "ccsyp"]
IN_CARE_P = [0.48, 0.44, 0.08]  # of SERVICE_IN_CARE
# Placement types drawn by age (customary care homes are the placements of customary care).
DRAWN_PLACEMENT_TYPES = np.array([t for t in PLACEMENT_TYPES if t != "customary_care_home"])
PLACEMENT_P_YOUNG = np.array([0.66, 0.17, 0.07, 0.08, 0.0, 0.02, 0.0])
PLACEMENT_P_TEEN = np.array([0.50, 0.12, 0.24, 0.0, 0.07, 0.03, 0.04])


def child_welfare(
    cfg: Config,
    rng: np.random.Generator,
    people: dict,
    panel: dict,
    societies: pl.DataFrame,
    fsas: dict,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(child, episodes, placements)`` for ``cfg.size.cw_children`` children.

    ``child`` has one row per child (``sid`` = -1 for a child with no student record), with
    identity, society and demographics; ``episodes`` and ``placements`` hold days since
    1970-01-01 (``end`` null = open at the extract end) and the episode index ``ep``.
    """
    n_cw = cfg.size.cw_children
    n_nostudent = int(round(cfg.noise.no_student_record * n_cw))
    n_student = n_cw - n_nostudent
    # candidates: students in a random order, then new identities of children with no student
    # record; the children in care are chosen among them first (care_episodes), the rest of the
    # children with a service are the next candidates
    students = unique_sorted(panel["sid"])
    for factor in CANDIDATES:  # more candidates only when too few were admitted (small scales)
        cand_sid = rng.permutation(students)[: min(len(students), factor * max(n_student, 1))]
        cand_ns = _without_student_record(rng, factor * max(n_nostudent, 1), fsas)
        if cfg.noise.no_student_enrolled_sibling > 0 and n_nostudent:
            # a stream of its own (spawning does not advance ``rng``): every other draw is as
            # before; before the care draw, so each child's care fits their birth date
            _as_enrolled_siblings(rng.spawn(1)[0], cfg, cand_ns, people, panel, students, fsas)
        n_cs = len(cand_sid)
        birth = np.concatenate([people["birth_days"][cand_sid], cand_ns["birth_days"]])
        try:
            care = care_episodes(cfg, draw_care(cfg, rng, len(birth)), birth)
            break
        except TooFewCandidates:
            if factor == CANDIDATES[-1]:
                raise
    in_care_st = np.zeros(n_cs, dtype=bool)
    in_care_st[care.chosen[care.chosen < n_cs]] = True
    in_care_ns = np.zeros(len(cand_ns["birth_days"]), dtype=bool)
    in_care_ns[care.chosen[care.chosen >= n_cs] - n_cs] = True
    # the other children with a service: as many without a student record as keeps their share
    n_other_ns = max(0, n_nostudent - int(in_care_ns.sum()))
    n_other_st = n_cw - len(care.chosen) - n_other_ns
    if n_other_st < 0:
        raise ValueError(
            f"scales.{cfg.scale}.cw_children: {n_cw} children cannot hold the {len(care.chosen)} "
            "children in care the calibration targets need; raise cw_children"
        )
    pick_st = in_care_st | _first_n(~in_care_st, n_other_st)
    pick_ns = in_care_ns | _first_n(~in_care_ns, n_other_ns)
    order = np.argsort(cand_sid[pick_st], kind="stable")
    child_sid = cand_sid[pick_st][order]
    care_of_child = np.concatenate([in_care_st[pick_st][order], in_care_ns[pick_ns]])
    # each child's care episode, by candidate index: students (sorted by sid), then the others
    cand_idx = np.concatenate([np.flatnonzero(pick_st)[order], n_cs + np.flatnonzero(pick_ns)])
    pos = np.full(len(birth), -1)
    pos[care.chosen] = np.arange(len(care.chosen))
    care_pos = pos[cand_idx]
    non_students = {k: v[pick_ns] for k, v in cand_ns.items()}
    child = _identities(people, panel, child_sid, non_students, fsas)
    region = child["region"].to_numpy()
    birth_days = child["birth_days"].to_numpy()
    demo = _demographics(rng, region, child["gender"].to_numpy())
    society = _societies_of(rng, region, demo["race"], societies)
    episodes = _service_episodes(
        cfg, rng, birth_days, demo["race"], care_of_child, care.start[care_pos], care.end[care_pos]
    ).with_row_index("ep")
    placements = _placements(cfg, rng, episodes, birth_days)
    demographics = pl.DataFrame(
        {
            "child_id": np.arange(n_cw),
            "society_id": society.astype(str),
            "race": demo["race"].tolist(),
            "gender_identity": demo["gender_identity"].astype(str),
            "born_outside_canada": demo["born_out"].tolist(),
            "first_language": demo["lang"].tolist(),
            "human_trafficking_risk": rng.random(n_cw) < 0.03,
        },
        schema_overrides={
            "race": pl.Utf8,
            "born_outside_canada": pl.Boolean,
            "first_language": pl.Utf8,
        },
    )
    return child.join(demographics, on="child_id"), episodes, placements


# candidates drawn per child: enough for the children in care to be chosen; more, in turn, when a
# small scale happens to admit too few of them
CANDIDATES = (4, 8, 16)


def _first_n(mask: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` true entries of ``mask`` (as a mask)."""
    out = np.zeros(len(mask), dtype=bool)
    out[np.flatnonzero(mask)[:n]] = True
    return out


def _without_student_record(rng: np.random.Generator, n: int, fsas: dict) -> dict:
    """New identities for ``n`` children with no student record, and the reason for each."""
    reasons = rng.choice(NO_STUDENT_REASONS, size=n, p=NO_STUDENT_REASON_P)
    birth_year = np.where(
        reasons == "too_young",
        rng.integers(2019, 2023, size=n),
        rng.integers(2002, 2016, size=n),
    )
    birth_days = jan_first_days(birth_year) + rng.integers(0, 365, size=n)
    g = rng.choice(3, size=n, p=GENDER_P)
    ff, ff_p = names.first_name_vocabulary("female")
    fm, fm_p = names.first_name_vocabulary("male")
    sur, sur_p = names.surname_vocabulary()
    first = np.where(
        g == 0,
        ff[rng.choice(len(ff), size=n, p=ff_p)],
        fm[rng.choice(len(fm), size=n, p=fm_p)],
    )
    last = sur[rng.choice(len(sur), size=n, p=sur_p)]
    region = rng.choice(5, size=n, p=NO_STUDENT_REGION_P)
    return {
        "reasons": reasons,
        "birth_days": birth_days,
        "g": g,
        "first": first,
        "last": last,
        "region": region,
        "pc": postal_codes(rng, region, fsas),
    }


def _current_addresses(
    people: dict, panel: dict, sids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The latest postal code (integer) and region of students ``sids`` in the panel (the
    "current" address)."""
    order = np.lexsort((panel["yi"], panel["sid"]))
    sid_sorted = panel["sid"][order]
    last_idx = np.r_[np.flatnonzero(np.diff(sid_sorted)), len(sid_sorted) - 1]
    last_sid = sid_sorted[last_idx]
    last_row = order[last_idx]
    del order, sid_sorted
    c_row = last_row[np.searchsorted(last_sid, sids)]
    region = np.where(
        panel["yi"][c_row] >= people["move_y"][sids],
        people["region2"][sids],
        people["region1"][sids],
    )
    return panel["pc"][c_row], region


def _as_enrolled_siblings(
    rng: np.random.Generator,
    cfg: Config,
    non_students: dict,
    people: dict,
    panel: dict,
    enrolled: np.ndarray,
    fsas: dict,
) -> None:
    """Make ``Noise.no_student_enrolled_sibling`` of the children without a student record the
    sibling of an enrolled student (in place): the student's surname and current address, a
    first name of their own, and a birth date a sibling's (one to five years apart; the same
    day for a twin, ``Noise.no_student_twin`` of those not too young for school). A child too
    young for school stays born in 2019-2022. These are the hard cases: a candidate sharing
    surname, address and (for a twin) birth date who is not the child."""
    nz = cfg.noise
    n = len(non_students["reasons"])
    for key in ("first", "last", "pc"):  # object arrays: a longer name must not be cut short
        non_students[key] = non_students[key].astype(object)
    sib = rng.random(n) < nz.no_student_enrolled_sibling
    k = int(sib.sum())
    idx = np.flatnonzero(sib)
    of = rng.choice(enrolled, size=k, replace=True)
    young = non_students["reasons"][idx] == "too_young"
    twin = (~young) & (rng.random(k) < nz.no_student_twin)
    gap = rng.integers(365, 5 * 365, size=k) * rng.choice([-1, 1], size=k)
    born = np.where(twin, people["birth_days"][of], people["birth_days"][of] + gap)
    born = np.where(young, non_students["birth_days"][idx], np.minimum(born, EXTRACT_END_DAYS))
    pc, region = _current_addresses(people, panel, of)
    first = non_students["first"][idx].astype(object)
    theirs = first_names(people, of)
    g = non_students["g"][idx]
    ff, _ = names.first_name_vocabulary("female")
    fm, _ = names.first_name_vocabulary("male")
    # a first name of their own (never the sibling's): the next name in the vocabulary
    for j in np.flatnonzero(first == theirs):
        vocab = ff if g[j] == 0 else fm
        first[j] = vocab[(int(np.searchsorted(vocab, first[j])) + 1) % len(vocab)]
    non_students["first"][idx] = first
    non_students["last"][idx] = last_names(people, of)
    non_students["birth_days"][idx] = born
    non_students["region"][idx] = region
    non_students["pc"][idx] = postal_strings(pc, fsas)
    hard = np.full(n, "", dtype=object)
    hard[idx] = np.where(twin, "enrolled_twin", "enrolled_sibling")
    non_students["hard_case"] = hard


def _identities(
    people: dict, panel: dict, child_sid: np.ndarray, non_students: dict, fsas: dict
) -> pl.DataFrame:
    """Identity of every child, students first: a student's is the school's, with the latest
    postal code and region of the student in the panel (the "current" address)."""
    c_pc, c_region = _current_addresses(people, panel, child_sid)
    n_student, n_new = len(child_sid), len(non_students["reasons"])
    return pl.DataFrame(
        {
            "child_id": np.arange(n_student + n_new),
            "sid": np.concatenate([child_sid, np.full(n_new, -1)]),
            "first_name": np.concatenate(
                [first_names(people, child_sid), non_students["first"]]
            ).astype(str),
            "last_name": np.concatenate(
                [last_names(people, child_sid), non_students["last"]]
            ).astype(str),
            "birth_days": np.concatenate(
                [people["birth_days"][child_sid], non_students["birth_days"]]
            ),
            "gender": np.concatenate(
                [GENDER_OF_CODE[people["g"][child_sid]], GENDER_OF_CODE[non_students["g"]]]
            ).astype(str),
            "postal_code": np.concatenate([postal_strings(c_pc, fsas), non_students["pc"]]).astype(
                str
            ),
            "region": np.concatenate([c_region, non_students["region"]]),
            "no_student_reason": np.concatenate(
                [np.full(n_student, None), non_students["reasons"]]
            ).tolist(),
            # "", or how a child with no student record resembles an enrolled one
            "hard_case": np.concatenate(
                [
                    np.full(n_student, "", dtype=object),
                    non_students.get("hard_case", np.full(n_new, "", dtype=object)),
                ]
            ).astype(str),
        },
        schema_overrides={"no_student_reason": pl.Utf8},
    )


def _demographics(rng: np.random.Generator, region: np.ndarray, gender: np.ndarray) -> dict:
    """Race (more often Indigenous in the North), gender identity, born outside Canada and first
    language of each child (object arrays; None = not recorded)."""
    n = len(region)
    race_p_north = RACE_P.copy()
    race_p_north[RACES.index("indigenous")] = NORTH_INDIGENOUS_P
    race_p_north /= race_p_north.sum()
    race_idx = np.where(
        region == REGIONS.index("North"),
        rng.choice(len(RACE_OR_MISSING), size=n, p=race_p_north),
        rng.choice(len(RACE_OR_MISSING), size=n, p=RACE_P),
    )
    race = np.array(RACE_OR_MISSING, dtype=object)[race_idx]
    gi_draw = rng.random(n)
    gender_identity = np.where(
        gender == "female",
        "girl_woman",
        np.where(gender == "male", "boy_man", "non_binary_two_spirit"),
    )
    gender_identity = np.where(
        gi_draw < 0.02,
        "non_binary_two_spirit",
        np.where(
            gi_draw < 0.025,
            "another_identity",
            np.where(gi_draw < 0.035, "not_stated", gender_identity),
        ),
    )
    # numpy stubs reject None as an array-like; at runtime it is an object-dtype scalar/element.
    born_out = np.where(rng.random(n) < 0.02, None, rng.random(n) < 0.08)  # type: ignore[call-overload]
    lang = rng.choice(FIRST_LANGUAGE_OR_MISSING, size=n, p=FIRST_LANGUAGE_P)  # type: ignore[arg-type]
    return {"race": race, "gender_identity": gender_identity, "born_out": born_out, "lang": lang}


def _societies_of(
    rng: np.random.Generator, region: np.ndarray, race: np.ndarray, societies: pl.DataFrame
) -> np.ndarray:
    """The society serving each child: in the child's region, by society size; Indigenous
    children mostly served by Indigenous agencies."""
    soc_region = societies["region"].to_numpy()
    soc_ind = societies["indigenous"].to_numpy()
    soc_w = societies["size_weight"].to_numpy()
    society = np.empty(len(region), dtype=object)
    u = rng.random(len(region))
    to_agency = (race == "indigenous") & (u < INDIGENOUS_AGENCY_SHARE)
    for r, reg in enumerate(REGIONS):
        for ind in (False, True):
            m = (region == r) & (to_agency if ind else ~to_agency)
            cand = np.flatnonzero((soc_region == reg) & (soc_ind == ind))
            if len(cand) == 0:
                cand = np.flatnonzero(soc_region == reg)
            w = soc_w[cand] / soc_w[cand].sum()
            society[m] = societies["society_id"].to_numpy()[
                rng.choice(cand, size=int(m.sum()), p=w)
            ]
    return society


def _service_episodes(
    cfg: Config,
    rng: np.random.Generator,
    birth_days: np.ndarray,
    race: np.ndarray,
    in_care: np.ndarray,
    care_start: np.ndarray,
    care_end: np.ndarray,
) -> pl.DataFrame:
    """One service episode per child: the care episodes chosen by
    :func:`~analysis.synthetic.care_episodes.care_episodes` (extended, interim or customary care),
    and for the other children kinship service, VYSA or CCSYP (``synthetic.other_service_shares``)
    active in the extract's years; plus CCSYP for youth who age out of extended society care
    (sorted by child and start; ``end`` null = open at the extract end)."""
    n = len(birth_days)
    start_lo = fiscal_year_start(int(cfg.school_years[0][:4]))
    start_hi = school_year_bounds(cfg.school_years[-1])[1]
    shares = np.array(cfg.synthetic.other_service_shares, dtype=float)
    kind = rng.choice(OTHER_SERVICES, size=n, p=shares / shares.sum())
    age_at_hi = (start_hi - birth_days) / 365.25
    age_at_lo = (start_lo - birth_days) / 365.25
    # VYSA needs a 16-17 year old and CCSYP an 18-20 year old in the window; otherwise kinship
    no_vysa = (age_at_hi < 16.2) | (age_at_lo > 17.8)
    no_ccsyp = (age_at_hi < 18.2) | (age_at_lo > 20.8)
    kind = np.where((kind == "vysa") & no_vysa, "kinship_service", kind)
    kind = np.where((kind == "ccsyp") & no_ccsyp, "kinship_service", kind)
    start = np.maximum(rng.integers(start_lo, start_hi, size=n), birth_days)
    age16 = birth_days + int(16 * 365.25)
    age18 = birth_days + int(18 * 365.25)
    age21 = birth_days + int(21 * 365.25)
    start = np.where(
        kind == "vysa", np.clip(age16 + rng.integers(0, 600, size=n), start_lo, start_hi), start
    )
    start = np.where(
        kind == "ccsyp", np.clip(age18 + rng.integers(0, 300, size=n), start_lo, start_hi), start
    )
    end = start + np.maximum(1, rng.lognormal(np.log(300), 0.9, size=n).astype(np.int64))
    end = np.where(kind == "vysa", np.minimum(end, age18), end)
    end = np.where(kind == "ccsyp", np.minimum(end, age21), end)
    care_type = rng.choice(list(SERVICE_IN_CARE), size=n, p=IN_CARE_P)
    care_type = np.where(
        (care_type == "customary_care") & (race != "indigenous"), "extended_society_care", care_type
    )
    stype = np.where(in_care, care_type, kind)
    start = np.where(in_care, care_start, start)
    end = np.where(in_care, care_end, end)
    # Extended society care ends at 18; youth who age out get CCSYP.
    aged_out = (
        (stype == "extended_society_care")
        & (end >= age18)
        & (start < age18)
        & (age18 < EXTRACT_END_DAYS)
    )
    end = np.where(aged_out, age18, end)
    ep = pl.DataFrame(
        {"child_id": np.arange(n), "service_type": stype.astype(str), "start": start, "end": end}
    )
    extra = pl.DataFrame(
        {
            "child_id": np.flatnonzero(aged_out),
            "service_type": "ccsyp",
            "start": age18[aged_out],
            "end": np.minimum(age21[aged_out], age18[aged_out] + 700),
        }
    )
    return (
        pl.concat([ep, extra])
        .with_columns(
            pl.when(pl.col("end") > EXTRACT_END_DAYS)
            .then(None)
            .otherwise(pl.col("end"))
            .alias("end")
        )
        .sort(["child_id", "start"])
    )


def _placements(
    cfg: Config, rng: np.random.Generator, episodes: pl.DataFrame, birth_days: np.ndarray
) -> pl.DataFrame:
    """One to four consecutive placements in each episode in care; the type by age (teenagers
    more often in group homes), customary care always in a customary care home. The shares of
    the placement groups are scaled so that the days of care of the panel's fiscal years split as
    ``calibration.targets.indicator3_*`` (family, group, other)."""
    care_eps = episodes.filter(pl.col("service_type").is_in(list(SERVICE_IN_CARE)))
    ce_start = care_eps["start"].to_numpy()
    ce_end = care_eps["end"].fill_null(EXTRACT_END_DAYS).to_numpy()
    ce_child = care_eps["child_id"].to_numpy()
    ce_type = care_eps["service_type"].to_numpy()
    n_pl = np.minimum(1 + rng.poisson(0.8, size=len(care_eps)), 4)
    pl_ep = np.repeat(np.arange(len(care_eps)), n_pl)
    cuts = rng.random(len(pl_ep))
    pl_order = np.arange(len(pl_ep)) - np.repeat(np.concatenate([[0], np.cumsum(n_pl)[:-1]]), n_pl)
    # Each placement starts at a random fraction of its episode (the first at its start).
    pl_df = (
        pl.DataFrame({"ep_i": pl_ep, "k": pl_order, "u": cuts})
        .with_columns(pl.when(pl.col("k") == 0).then(0.0).otherwise(pl.col("u")).alias("f"))
        .sort(["ep_i", "f"])
    )
    f = pl_df["f"].to_numpy()
    ep_i = pl_df["ep_i"].to_numpy()
    length = ce_end[ep_i] - ce_start[ep_i]
    p_start = ce_start[ep_i] + (f * length).astype(np.int64)
    next_same = np.r_[ep_i[1:] == ep_i[:-1], False]
    p_end = np.where(next_same, np.r_[p_start[1:], 0], ce_end[ep_i])
    age_at = (p_start - birth_days[ce_child[ep_i]]) / 365.25
    teen = age_at >= 12
    customary = ce_type[ep_i] == "customary_care"
    pt = _placement_types(cfg, rng.random(len(ep_i)), teen, customary, p_start, p_end)
    ptype = DRAWN_PLACEMENT_TYPES[pt].astype(object)
    ptype[customary] = "customary_care_home"
    return (
        pl.DataFrame(
            {
                "child_id": ce_child[ep_i],
                "ep": care_eps["ep"].to_numpy()[ep_i],
                "placement_type": ptype.astype(str),
                "start": p_start,
                "end": p_end,
            }
        )
        .filter(pl.col("end") > pl.col("start"))
        .with_columns(
            pl.when(pl.col("end") >= EXTRACT_END_DAYS)
            .then(None)
            .otherwise(pl.col("end"))
            .alias("end")
        )
    )


def _placement_types(
    cfg: Config,
    u: np.ndarray,
    teen: np.ndarray,
    customary: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """Placement type codes (into :data:`DRAWN_PLACEMENT_TYPES`) at uniforms ``u``: by age, each
    group's types weighted so that the placements' days in the panel's fiscal years split between
    the groups as the indicator-3 targets (a few rounds of rescaling; customary care left out)."""
    groups = np.array([PLACEMENT_GROUP[t] for t in DRAWN_PLACEMENT_TYPES])
    names = ("family", "group", "other")
    t = cfg.calibration.targets
    target = np.array([t[f"indicator3_{g}"].value for g in names], dtype=float)
    target = target / target.sum()
    lo = fiscal_year_start(int(cfg.school_years[0][:4]))
    hi = fiscal_year_start(int(cfg.school_years[-1][:4]) + 1)
    days = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0, None).astype(float)
    days[customary] = 0.0
    weight = np.ones(len(names))
    code = np.zeros(len(u), dtype=np.int64)
    for _ in range(6):
        w = weight[[names.index(g) for g in groups]]
        for mask, p in ((teen, PLACEMENT_P_TEEN), (~teen, PLACEMENT_P_YOUNG)):
            cdf = np.cumsum(p * w) / np.sum(p * w)
            code[mask] = np.minimum(np.searchsorted(cdf, u[mask], side="right"), len(p) - 1)
        got = np.array([days[groups[code] == g].sum() for g in names])
        if got.sum() == 0:
            break
        got = got / got.sum()
        weight *= np.where(got > 0, target / np.maximum(got, 1e-12), 1.0)
    return code


def onlac_assessments(
    cfg: Config, rng: np.random.Generator, child: pl.DataFrame, episodes: pl.DataFrame
) -> pl.DataFrame:
    """OnLAC items of youth in care on 1 October of each year: the assessment's own rule, the
    same one the indicator uses (``cfg.indicators.onlac_ages``, ``onlac_min_days_in_care``).

    One row per youth and year: ``child_id``, ``ep``, ``item_1`` to ``item_4`` (0-2) and
    ``assessment_days`` (a few months after 1 October, days since 1970-01-01).
    """
    fy0 = int(cfg.school_years[0][:4])
    youngest, oldest = cfg.indicators.onlac_ages
    min_days = cfg.indicators.onlac_min_days_in_care
    rows = []
    e = (
        episodes.filter(pl.col("service_type").is_in(list(SERVICE_IN_CARE)))
        .with_columns(pl.col("end").fill_null(EXTRACT_END_DAYS + 1))
        .join(child.select("child_id", "birth_days"), on="child_id")
    )
    for k in range(len(cfg.school_years)):
        at = days_since_epoch(dt.date(fy0 + k, 10, 1))
        sel = e.filter((pl.col("start") + min_days <= at) & (pl.col("end") > at)).with_columns(
            ((at - pl.col("birth_days")) / 365.25).floor().alias("age")
        )
        sel = sel.filter((pl.col("age") >= youngest) & (pl.col("age") <= oldest))
        if sel.height:
            rows.append(
                sel.select("child_id", "ep").with_columns(
                    pl.lit(at).alias("at"),
                    pl.Series("jitter", rng.integers(0, 150, size=sel.height)),
                )
            )
    df = (
        pl.concat(rows)
        if rows
        else pl.DataFrame(
            schema={"child_id": pl.Int64, "ep": pl.UInt32, "at": pl.Int32, "jitter": pl.Int64}
        )
    )
    items = _onlac_items(
        cfg,
        rng,
        df.join(
            child.select("child_id", "society_id"), on="child_id", how="left", maintain_order="left"
        ),
    )
    return df.with_columns(
        [pl.Series(f"item_{j + 1}", items[:, j].astype(np.int8)) for j in range(4)]
    ).with_columns((pl.col("at") + pl.col("jitter")).alias("assessment_days"))


ITEM_ZERO_P = 0.05  # share of items scored 0 (the scores' spread; the mean is the target's)


def _onlac_items(cfg: Config, rng: np.random.Generator, rows: pl.DataFrame) -> np.ndarray:
    """Four caregiver-relationship items (0-2) per row: their mean is the target score
    (``calibration.targets.indicator5_caregiver``) plus the society's own shift
    (``synthetic.society_onlac_sd``, in score points), with ``ITEM_ZERO_P`` of items 0."""
    target = cfg.calibration.targets["indicator5_caregiver"].value
    assert not isinstance(target, dict)
    soc = rows["society_id"].fill_null("").to_numpy()
    socs, soc_idx = np.unique(soc, return_inverse=True)
    shift = rng.normal(0, cfg.synthetic.society_onlac_sd, size=len(socs))
    mean_item = np.clip(
        (target + shift[soc_idx]) / 4, 1 - ITEM_ZERO_P + 0.01, 2 - 2 * ITEM_ZERO_P - 0.01
    )
    p2 = mean_item - 1 + ITEM_ZERO_P
    u = rng.random((rows.height, 4))
    return np.where(u < ITEM_ZERO_P, 0, np.where(u < 1 - p2[:, None], 1, 2)).astype(np.int8)
