"""The effects the generator plants, and the outcome models they enter (the known truth)."""

from __future__ import annotations

from analysis.config import Config


def planted_effects(cfg: Config) -> dict:
    """The planted effects and the outcome model they enter (written to the truth folder)."""
    return {
        "effects": cfg.effects.model_dump(),
        "eqao_model": "logit P(at standard) = base[assessment, year(, stream)] + board[b] "
        "+ 0.25*(female-male) for reading/writing, -0.05*(female-male) for math "
        "+ eqao_logodds[care_status] + dose_per_year_in_care*years_in_care*(care_status==in_care) "
        "+ group_care_extra_logodds*(placement_group==group) "
        "+ indigenous_extra_logodds*indigenous*(care_status!=none); board ~ N(0, 0.25); base "
        "calibrated per assessment and year to the configured % at standard among participants.",
        "attendance_model": "P(absent on a day) = clip(base[grade band] * year_mult * frailty_i "
        "- attendance_gap[care_status], 0, 0.9); frailty ~ Gamma(2.5, 1/2.5)",
        "credits_model": "credits = clip(8 + Bernoulli(0.3) - Poisson(max(0.25 - credits_gap[care_status], 0)), 0, 9) "
        "for grades 9-12 (so the gap in mean credits is credits_gap before clipping)",
    }
