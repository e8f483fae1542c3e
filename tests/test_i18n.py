"""Catalogues and locale formatting; no fixed English sentence in a French report."""

from __future__ import annotations

import html
import re
import string
from pathlib import Path

import pytest
from pypdf import PdfReader

from analysis.reports.i18n import (
    MissingMessage,
    catalogue,
    fmt_in_ten,
    fmt_number,
    fmt_percent,
    gettext,
    placeholders,
    school_year,
)
from analysis.reports.render import render_report, render_site
from test_render import build_sample


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, fr = catalogue("en"), catalogue("fr")
    assert set(en) == set(fr)
    for key in en:
        assert placeholders(en[key]) == placeholders(fr[key]), key


def test_missing_message_never_falls_back_to_english() -> None:
    with pytest.raises(MissingMessage):
        gettext("no.such.key", "fr")
    with pytest.raises(ValueError):
        gettext("ui.skip_link", "de")


def test_locale_numbers() -> None:
    assert fmt_percent(12.5, "fr") == "12,5\u00a0%"
    assert fmt_percent(12.5, "en") == "12.5%"
    assert fmt_percent(0.125, "fr", proportion=True) == "12,5\u00a0%"
    assert fmt_number(12345.67, "fr", 1) == "12\u00a0345,7"
    assert fmt_number(12345, "en") == "12,345"
    assert fmt_number(None, "en") == ""
    assert fmt_in_ten(58.3, "en") == "about 6 in 10"
    assert fmt_in_ten(0.583, "fr", proportion=True) == "environ 6 sur 10"
    assert school_year(2021, "en") == "2021-22" and school_year(2021, "fr") == "2021-2022"


def english_fragments() -> set[str]:
    """Literal pieces (between placeholders) of every English catalogue string that differs from
    its French translation and is long enough to be a sentence fragment (3+ words)."""
    en, fr = catalogue("en"), catalogue("fr")
    out: set[str] = set()
    for key, text in en.items():
        if text == fr[key]:
            continue
        for literal, *_ in string.Formatter().parse(text):
            frag = " ".join(literal.split()).strip(" :,.;()“”")
            if len(frag.split()) >= 3:
                out.add(frag)
    return out


def visible_text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_french_reports_contain_no_fixed_english_sentence(tmp_path: Path) -> None:
    frags = english_fragments()
    assert len(frags) > 50
    rendered = [
        render_report(build_sample("fr", tmp_path, youth=y), tmp_path) for y in (False, True)
    ]
    index = render_site(tmp_path, rendered, lang="fr")
    for path in [*(r.html for r in rendered), index]:
        text = visible_text(path.read_text(encoding="utf-8"))
        leaked = sorted(f for f in frags if f in text)
        assert not leaked, f"{path.name}: English text in a French page: {leaked[:5]}"
    for r in rendered:
        pdf_text = " ".join("".join(p.extract_text() for p in PdfReader(r.pdf).pages).split())
        leaked = sorted(f for f in frags if f in pdf_text)
        assert not leaked, f"{r.pdf.name}: {leaked[:5]}"


def test_the_leak_check_can_fail(tmp_path: Path) -> None:
    """The English report does contain its fixed sentences: the check above is not vacuous."""
    r = render_report(build_sample("en", tmp_path), tmp_path)
    text = visible_text(r.html.read_text(encoding="utf-8"))
    assert sum(f in text for f in english_fragments()) >= 10
