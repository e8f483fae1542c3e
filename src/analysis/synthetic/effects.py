"""The effects the generator plants, and the outcome models they enter (the known truth)."""

from __future__ import annotations

from analysis.config import Config


def planted_effects(cfg: Config) -> dict:
    """The planted effects and the outcome model they enter (written to the truth folder)."""
    return {
        "effects": cfg.effects.model_dump(),
        "eqao_model": "logit P(at standard) = base[assessment, year(, stream; a later OSSLT "
        "sitting its own)] + board[b] "
        "+ 0.25*(female-male) for reading/writing, -0.05*(female-male) for math "
        "+ eqao_logodds[care_status] + eqao_logodds_cw_involved*cw_involved "
        "+ dose_per_year_in_care*years_in_care*(care_status==in_care) "
        "+ group_care_extra_logodds*(placement_group==group) "
        "+ indigenous_extra_logodds*indigenous*(care_status!=none); board ~ N(0, 0.25); base "
        "calibrated per assessment and year to the configured % at standard among participants "
        "(later OSSLT sittings: synthetic.osslt_retake_pass). cw_involved: every school year of "
        "a student with child-welfare involvement.",
        "attendance_model": "P(absent on a day) = clip(base[grade band] * scale[year] * frailty_i "
        "- attendance_gap[care_status] - attendance_gap_cw_involved*cw_involved, 0, 0.9); "
        "frailty ~ Gamma(2.5, 1/2.5); scale[year] solved so that the share of chronically absent "
        "students is calibration.targets.chronic_absence",
        "credits_model": "credits = 8 + Bernoulli(synthetic.extra_credit_share) - Binomial(8, "
        "clip(fail_rate_i - (credits_gap[care_status] + credits_gap_cw_involved*cw_involved) / 8, "
        "0, 1)) for grades 9-12, so the gap in mean credits is the credits gap; fail_rate_i ~ "
        "Uniform(0, synthetic.fail_rate_engaged), or for synthetic.struggling_share of students "
        "Uniform(synthetic.fail_rate_struggling)",
    }
