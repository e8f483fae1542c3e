"""Facts the code cannot hold in one place are checked to agree with the one that defines them.

Most shared facts live once, in ``analysis.domain`` or the configuration; what is left here is
what has to be said twice for a good reason: sentences of the catalogue that name years in each
language, and the columns a reader takes from a table another stage writes.
"""

from __future__ import annotations

import pytest

from analysis.config import Config, load_config
from analysis.reports.i18n import gettext, school_year


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_catalogue_sentences_name_the_configured_eqao_years(lang: str) -> None:
    cfg = load_config()
    no_testing = gettext("text.no_testing", lang)
    for year in cfg.no_eqao_years:
        assert school_year(int(year[:4]), lang) in no_testing, (year, no_testing)
    tested = [y for y in cfg.school_years if y not in cfg.no_eqao_years]
    assert not any(school_year(int(y[:4]), lang) in no_testing for y in tested)
    baseline = gettext("text.new_baseline", lang)
    assert school_year(int(cfg.eqao_baseline_break[:4]), lang) in baseline


def test_validation_panel_is_the_configured_panel() -> None:
    from analysis.domain.schemas import SCHOOL_YEARS

    assert load_config().school_years == SCHOOL_YEARS == Config.model_fields["school_years"].default


def test_analyse_reads_only_columns_the_analytic_contract_has() -> None:
    from analysis.analyse import EQAO_COLUMNS, STUDENT_YEAR_COLUMNS
    from analysis.deidentify.contract import TABLE_COLUMNS

    assert set(STUDENT_YEAR_COLUMNS) <= set(TABLE_COLUMNS["student_years"])
    assert set(EQAO_COLUMNS) <= set(TABLE_COLUMNS["eqao"])
