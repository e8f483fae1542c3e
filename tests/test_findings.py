"""The generated sentences of the built reports: every number is in a table the report prints
(as the build's audit recorded them), and the words follow the numbers when a gap is reversed.

Both tests read the rendered pages: generated sentences are ``<p class="finding">`` paragraphs and
``<li class="tile">`` headline tiles.
"""

from __future__ import annotations

import csv
import html
import re
import string
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from analysis.reports.i18n import catalogue

pytestmark = pytest.mark.slow

_FINDING = re.compile(r'<p class="finding">(.*?)</p>', re.S)
_TILE = re.compile(r'<li class="tile[^"]*">(.*?)</li>', re.S)
_YEAR = re.compile(r"\b(\d{4})[-–](\d{2}|\d{4})\b")
_NUMBER = {
    "en": re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"),
    "fr": re.compile(r"\d{1,3}(?:[\u00a0\u202f ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?"),
}


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def generated_sentences(page: str) -> list[str]:
    """The findings and tiles of a rendered page, as plain text."""
    return [_text(m) for m in _FINDING.findall(page)] + [_text(m) for m in _TILE.findall(page)]


@cache
def fixed_texts(lang: str) -> tuple[str, ...]:
    """Every piece of catalogue text that contains a digit (the literal parts of templates and
    whole labels such as "missed 10% or more of school days"): words, not published numbers."""
    out: set[str] = set()
    for text in catalogue(lang).values():
        for literal, *_ in string.Formatter().parse(text):
            for piece in re.split(r"[.;:]\s", literal):
                piece = " ".join(piece.split()).strip(" ,()")
                # a piece with words and a digit ("95% interval"); a bare number such as "1" in
                # "{n} in 1" is not a word, and stripping it would cut published numbers apart
                if re.search(r"\d", piece) and re.search(r"[^\W\d_]", piece):
                    out.add(piece)
    return tuple(sorted(out, key=len, reverse=True))


def strip_words(sentence: str, lang: str, names: tuple[str, ...]) -> str:
    """``sentence`` without its fixed catalogue text and the names of boards and societies."""
    s = " ".join(sentence.split())
    for n in names:
        s = s.replace(n, " ")
    low = s.casefold()
    for piece in fixed_texts(lang):
        p = piece.casefold()
        while p in low:
            i = low.index(p)
            s, low = s[:i] + " " + s[i + len(p) :], low[:i] + " " + low[i + len(p) :]
    return s


def numbers(text: str, lang: str) -> list[tuple[float, int]]:
    """``(value, decimals)`` of every number in ``text`` (locale-aware)."""
    out = []
    for tok in _NUMBER[lang].findall(text):
        if lang == "en":
            t = tok.replace(",", "")
        else:
            t = re.sub(r"[\u00a0\u202f ]", "", tok).replace(",", ".")
        dec = len(t.split(".")[1]) if "." in t else 0
        out.append((float(t), dec))
    return out


def csv_values(paths: list[Path]) -> tuple[str, list[float]]:
    raw, vals = [], []
    for p in paths:
        text = p.read_text(encoding="utf-8")
        raw.append(text)
        for row in csv.reader(text.splitlines()):
            for c in row:
                try:
                    vals.append(float(c.split(" ")[0]))
                except ValueError:
                    continue
    return "\n".join(raw), vals


def found(value: float, dec: int, vals: list[float]) -> bool:
    """A published value shown as ``value``: itself, in percent (x100), as a magnitude, or as
    "n in 10" (x10), rounded to the number of decimals the sentence shows."""
    for v in vals:
        for shown in (v, v * 100, abs(v), abs(v) * 100):
            if round(shown, dec) == value or abs(round(shown, dec) - value) < 10 ** -(dec + 3):
                return True
            # the CSV's decimal text rounded half up, as the page formats it (6.55 shows as 6.6,
            # where binary round() gives 6.5)
            q = Decimal(repr(shown)).quantize(Decimal(1).scaleb(-dec), rounding=ROUND_HALF_UP)
            if float(q) == value:
                return True
        if dec == 0 and value <= 10 and round(v * 10) == value and 0 <= v <= 1:
            return True
    return False


def _names(cfg) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    names = []
    for table, col in (("boards", "board_name"), ("societies", "society_name")):
        names += pl.read_parquet(cfg.paths.analytic / f"{table}.parquet")[col].to_list()
    return tuple(sorted(set(names), key=len, reverse=True))


def printed_dir(cfg) -> Path:  # type: ignore[no-untyped-def]
    """The tables each report prints, as the build's audit kept them (one CSV per table)."""
    from analysis.reports import audit
    from analysis.reports.report import PRINTED_DIR

    return audit.folder(cfg) / PRINTED_DIR


def check_page(page_path: Path, names: tuple[str, ...], printed: Path) -> tuple[int, list[str]]:
    """(numbers checked, problems) for one rendered report: its sentences against the tables it
    prints (``printed/<slug>-<table>.csv``)."""
    page = page_path.read_text(encoding="utf-8")
    lang = re.search(r'<html lang="(\w\w)', page).group(1)  # type: ignore[union-attr]
    csvs = sorted(printed.glob(f"{page_path.stem}-*.csv"))
    assert csvs, page_path.name
    raw, vals = csv_values(csvs)
    problems, checked = [], 0
    for sentence in generated_sentences(page):
        text = strip_words(sentence, lang, names)
        for m in _YEAR.finditer(text):
            checked += 1
            if m.group(0) not in raw:
                problems.append(f"{page_path.name}: year {m.group(0)!r} of {sentence!r}")
        text = _YEAR.sub(" ", text)
        for value, dec in numbers(text, lang):
            checked += 1
            if not found(value, dec, vals):
                problems.append(f"{page_path.name}: {value} in {sentence!r}")
    return checked, problems


def test_every_number_in_generated_sentences_is_in_the_tables_the_report_prints(tiny_build) -> None:  # type: ignore[no-untyped-def]
    root = tiny_build.paths.reports_dir
    names = _names(tiny_build)
    pages = sorted(
        p
        for p in root.glob("*.html")
        if not p.name.startswith(("index", "methodology", "data-catalogue"))
    )
    assert len(pages) > 120
    total, problems = 0, []
    for p in pages:
        n, bad = check_page(p, names, printed_dir(tiny_build))
        total += n
        problems += bad
    assert total > 1000  # the check saw the numbers
    assert problems == [], "\n".join(problems[:20])


def test_the_number_check_can_fail(tiny_build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A number that is in no table the report prints is reported: the check above is not
    vacuous."""
    root = tiny_build.paths.reports_dir
    page = (root / "ministry-en.html").read_text(encoding="utf-8")
    assert '<p class="finding">' in page
    bad = page.replace('<p class="finding">', '<p class="finding">987.6 points. ', 1)
    (tmp_path / "ministry-en.html").write_text(bad, encoding="utf-8")
    _, problems = check_page(
        tmp_path / "ministry-en.html", _names(tiny_build), printed_dir(tiny_build)
    )
    assert any("987.6" in p for p in problems)


# ---------------------------------------------------------------- a reversed gap
REVERSED = {
    "attendance_gap_in_care": 0.035,
    "eqao_logodds_in_care": 0.9,
    "credits_gap_in_care": 1.2,
    "dose_per_year_in_care": 0.15,
    "group_care_extra_logodds": 0.35,
}


def _ame(cfg) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    g = pl.read_parquet(cfg.paths.results / "adjusted_gaps.parquet").filter(
        (pl.col("outcome") == "eqao_at_standard")
        & (pl.col("term") == "average_difference:care_status[in_care]")
    )
    return float(g["estimate"][0]), float(g["ci_low"][0]), float(g["ci_high"][0])


def _ame_sentence(cfg) -> str:  # type: ignore[no-untyped-def]
    page = (cfg.paths.reports_dir / "ministry-en.html").read_text(encoding="utf-8")
    for s in generated_sentences(page):
        if "the chance of meeting the EQAO provincial standard" in s:
            return s
    raise AssertionError("no adjusted EQAO sentence in ministry-en")


def _expected(est: float, lo: float, hi: float) -> str:
    if lo <= 0 <= hi:
        return "no clear difference"
    return "percentage points higher" if est > 0 else "percentage points lower"


def test_sentences_follow_a_reversed_gap(tiny_build, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """The same build with the in-care effects planted the other way: the published adjusted gap
    changes sign, and the sentence (and its number) follows the published numbers in both."""
    from analysis.pipeline import build
    from conftest import make_cfg

    cfg = make_cfg(tmp_path_factory.mktemp("reversed"))
    effects = {**cfg.effects.model_dump(), **REVERSED}
    cfg = cfg.with_overrides(
        effects=effects,
        reports={**cfg.reports.model_dump(), "only": ["ministry-en"]},
    )
    build(cfg)
    base, rev = _ame(tiny_build), _ame(cfg)
    if (base[0] > 0) == (rev[0] > 0):
        pytest.fail(f"planting the effects the other way did not reverse the gap: {base}, {rev}")
    for c, (est, lo, hi) in ((tiny_build, base), (cfg, rev)):
        sentence = _ame_sentence(c)
        assert _expected(est, lo, hi) in sentence, (est, lo, hi, sentence)
        if _expected(est, lo, hi) != "no clear difference":
            assert f"{abs(est) * 100:.1f} percentage points" in sentence


# ---------------------------------------------------------------- what each report kind holds
def _report_pages(cfg) -> list[Path]:  # type: ignore[no-untyped-def]
    root = cfg.paths.reports_dir
    return sorted(
        p
        for p in root.glob("*.html")
        if not p.name.startswith(("index", "methodology", "data-catalogue"))
    )


def test_every_report_opens_with_tiles_and_findings_before_tables(tiny_build) -> None:  # type: ignore[no-untyped-def]
    for p in _report_pages(tiny_build):
        page = p.read_text(encoding="utf-8")
        main = page[page.index("<main") :]
        assert '<dl class="facts">' in main, p.name  # publication date, period, next, contact
        tiles, finding = main.find('<ul class="tiles">'), main.find('<p class="finding">')
        table = main.find("<table")
        assert 0 <= tiles < table and 0 <= finding < table, p.name
        n_tiles = main.count('<li class="tile')
        assert 3 <= n_tiles <= 6, (p.name, n_tiles)
        assert 'id="heading-revisions"' in main, p.name


def test_every_society_page_has_at_least_three_charts(tiny_build) -> None:  # type: ignore[no-untyped-def]
    pages = [p for p in _report_pages(tiny_build) if p.name.startswith("society-")]
    assert len(pages) == 50
    for p in pages:
        page = p.read_text(encoding="utf-8")
        assert page.count('role="img"') >= 3, p.name
        # the five indicators each beside Ontario, and the school outcomes of the society's children
        assert page.count('class="chart-block"') >= 3
        assert 'id="heading-society-education"' in page, p.name


def test_sector_reports_exist_in_both_languages_and_both_indexes_link_them(tiny_build) -> None:  # type: ignore[no-untyped-def]
    root = tiny_build.paths.reports_dir
    index = (root / "index.html").read_text(encoding="utf-8")
    index_fr = (root / "index-fr.html").read_text(encoding="utf-8")
    for a in ("oacas", "ancfsao"):
        for lang in ("en", "fr"):
            slug = f"sector-{a}-{lang}"
            assert (root / f"{slug}.html").is_file() and (root / f"{slug}.pdf").is_file()
            assert f'href="{slug}.html"' in index and f'href="{slug}.html"' in index_fr
    ancfsao = (root / "sector-ancfsao-en.html").read_text(encoding="utf-8")
    assert 'id="heading-indigenous-children"' in ancfsao


def test_sector_reports_compare_the_groups_of_societies_from_their_published_rows(
    tiny_build,
) -> None:  # type: ignore[no-untyped-def]
    from analysis.analyse import load_results

    root = tiny_build.paths.reports_dir
    t = load_results(tiny_build)["indicator1_no_recurrence_investigation_by_society_group"].df
    for lang, head, other in (
        ("en", "Counted by group of societies", "Other societies"),
        ("fr", "Par groupe de sociétés", "autres sociétés"),
    ):
        said = [
            s
            for s in generated_sentences((root / f"sector-oacas-{lang}.html").read_text("utf-8"))
            if s.startswith(head)
        ]
        assert said, lang
        # indicator 1's sentence gives the other societies' published rate in its year
        first = said[0]
        year = re.search(r"(\d{4}-\d{2})", first)
        value = re.search(re.escape(other) + r" (\d+)\s?%", first)
        assert year and value, first
        row = t.filter((pl.col("society_group") == "SG3") & (pl.col("fiscal_year") == year[1]))
        assert row["rate__symbol"][0] == "", row
        pct = Decimal(repr(100 * row["rate"][0])).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert int(pct) == int(value[1]), (first, row)
        # ANCFSAO's report speaks of the Indigenous societies only
        page = (root / f"sector-ancfsao-{lang}.html").read_text("utf-8")
        for s in generated_sentences(page):
            if s.startswith(head):
                assert other not in s and "aith" not in s and "confession" not in s, s


def test_youth_summary_has_five_to_eight_findings_each_with_a_chart(tiny_build) -> None:  # type: ignore[no-untyped-def]
    for lang in ("en", "fr"):
        page = (tiny_build.paths.reports_dir / f"youth-{lang}.html").read_text(encoding="utf-8")
        found = page.split('id="heading-youth-found"', 1)[1].split('id="heading-youth-helps"', 1)[0]
        n = found.count("<h3")
        assert 5 <= n <= 8, n
        assert found.count('role="img"') == n
        for section in ("heading-youth-rights", "heading-help", "heading-youth-helps"):
            assert f'id="{section}"' in page
