"""Plain language: the youth summary reads at grade 6 or lower, in English and French."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.reports.i18n import catalogue
from analysis.reports.readability import YOUTH_MAX_GRADE, check_grade, ease_to_grade, measure
from analysis.reports.report import load
from test_render import build_sample


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_youth_summary_prose_is_grade_6_or_lower(lang: str, tmp_path: Path) -> None:
    doc = load(build_sample(lang, tmp_path, youth=True))
    prose = [b["text"] for b in doc["blocks"] if b["type"] in ("text", "note")]
    prose += [i for b in doc["blocks"] if b["type"] == "list" for i in b["items"]]
    r = check_grade(prose, lang, YOUTH_MAX_GRADE)
    assert r.words > 100 and r.sentences > 10


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_youth_message_is_plain(lang: str) -> None:
    youth = [v for k, v in catalogue(lang).items() if k.startswith("youth.") and "{" not in v]
    check_grade(youth, lang, YOUTH_MAX_GRADE)


def test_hard_prose_fails_the_check() -> None:
    hard = (
        "Notwithstanding methodological considerations, administrative-data linkage "
        "probabilistically reconciles heterogeneous identification characteristics, "
        "consequently necessitating comprehensive sensitivity investigations."
    )
    assert measure(hard, "en").grade > 12
    with pytest.raises(AssertionError, match="grade"):
        check_grade(hard, "en")
    dur = (
        "Nonobstant les considérations méthodologiques, l’appariement probabiliste des données "
        "administratives réconcilie des caractéristiques d’identification hétérogènes, "
        "nécessitant conséquemment des investigations approfondies de sensibilité."
    )
    with pytest.raises(AssertionError):
        check_grade(dur, "fr")


def test_ease_to_grade_bands() -> None:
    assert ease_to_grade(95) == 5 and ease_to_grade(85) == 6 and ease_to_grade(20) == 16
