"""Readability of report prose (plain-language checks for the youth summary and public text).

English: Flesch-Kincaid grade level (``textstat`` 0.7.8, which works offline; 0.7.9+ downloads a
dictionary at run time). Ontario's style guide writes for Grade 6; the youth summary must be at
grade 6 or lower.

French: Flesch-Kincaid is calibrated on English syllable counts and overstates French grades.
``textstat`` 0.7.8 with ``set_lang("fr")`` gives Kandel & Moles' (1958) French adaptation of the
Flesch reading ease (207 - 1.015 x words/sentence - 73.6 x syllables/word). We convert it to an
approximate school grade with Flesch's own ease-to-grade bands (90-100: grade 5, 80-90: 6,
70-80: 7, 60-70: 8-9, 50-60: 10-12, below 50: college), so the same ``max_grade`` applies to both
languages. The French grade is an approximation; the test thresholds say so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import textstat

YOUTH_MAX_GRADE = 6.0
PUBLIC_MAX_GRADE = 8.0
_LOCK = threading.Lock()  # textstat keeps its language as module state


@dataclass(frozen=True)
class Readability:
    """Readability of one block of prose."""

    lang: str
    grade: float
    reading_ease: float
    words: int
    sentences: int
    method: str


def _clean(text: str) -> str:
    # Phone numbers and codes are read as one "word" each, not as syllable-heavy numerals.
    text = re.sub(r"\d[\d\-\s]*\d", "0", text)
    return " ".join(text.split())


def ease_to_grade(ease: float) -> float:
    """Approximate grade from a Flesch reading ease (Flesch's bands, linear inside a band)."""
    bands = [(90.0, 5.0), (80.0, 6.0), (70.0, 7.0), (60.0, 8.5), (50.0, 11.0), (30.0, 14.0)]
    for floor, grade in bands:
        if ease >= floor:
            return grade
    return 16.0


def measure(texts: str | Iterable[str], lang: str = "en") -> Readability:
    """Readability of ``texts`` (joined as one passage; each item should end a sentence)."""
    items = [texts] if isinstance(texts, str) else list(texts)
    parts = []
    for t in items:
        t = _clean(t)
        if t and t[-1] not in ".!?:":
            t += "."
        parts.append(t)
    passage = " ".join(p for p in parts if p)
    if not passage:
        raise ValueError("no prose to measure")
    with _LOCK:
        try:
            if lang == "fr":
                textstat.set_lang("fr")
                ease = float(textstat.flesch_reading_ease(passage))
                grade = ease_to_grade(ease)
                method = "Kandel-Moles reading ease -> Flesch grade band"
            elif lang == "en":
                textstat.set_lang("en_US")
                ease = float(textstat.flesch_reading_ease(passage))
                grade = float(textstat.flesch_kincaid_grade(passage))
                method = "Flesch-Kincaid grade"
            else:
                raise ValueError(f"no readability formula for language {lang!r}")
            words = int(textstat.lexicon_count(passage))
            sentences = int(textstat.sentence_count(passage))
        finally:
            textstat.set_lang("en_US")
    return Readability(lang, grade, ease, words, sentences, method)


def check_grade(
    texts: str | Iterable[str], lang: str = "en", max_grade: float = YOUTH_MAX_GRADE
) -> Readability:
    """Measure and raise ``AssertionError`` if the grade is above ``max_grade``.

    A test helper: ``check_grade(report.prose(), report.lang)`` for a youth summary.
    """
    r = measure(texts, lang)
    if r.grade > max_grade:
        raise AssertionError(
            f"prose reads at grade {r.grade:.1f} ({r.method}, {r.words} words, {r.sentences} "
            f"sentences); the limit is {max_grade:g}"
        )
    return r
