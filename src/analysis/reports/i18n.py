"""Message catalogues and locale formatting for bilingual (en / fr-CA) reports.

All fixed text in a report comes from a gettext catalogue under ``analysis/locales/<lang>/
LC_MESSAGES/messages.po``. The ``.po`` files are the source; they are compiled in memory with
Babel at first use (no ``.mo`` build step, nothing to forget to regenerate).

Message ids are symbolic keys (``heading.summary``, ``youth.help_phone``) rather than English
sentences, so an English sentence can never leak into a French report through a missing
translation: a key missing from a catalogue raises :class:`MissingMessage` instead of falling
back. Placeholders use ``str.format`` names: ``{n}``, ``{board}``.

Numbers are formatted with Babel's CLDR data: ``fmt_percent(12.5, "fr") == "12,5\u00a0%"``.
"""

from __future__ import annotations

import math
import string
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGS: tuple[str, ...] = ("en", "fr")
LOCALES: dict[str, str] = {"en": "en_CA", "fr": "fr_CA"}
LOCALE_DIR = Path(__file__).parent / "locales"

NBSP = "\u00a0"


class MissingMessage(KeyError):
    """A message id is not in the catalogue of the requested language."""


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise ``ValueError`` naming the supported languages."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not supported; use one of {', '.join(LANGS)}")
    return lang


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The compiled catalogue for ``lang``: ``{msgid: translated text}`` (empty strings dropped)."""
    check_lang(lang)
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=LOCALES[lang])
    out: dict[str, str] = {}
    for msg in cat:
        if msg.id and isinstance(msg.id, str) and isinstance(msg.string, str) and msg.string:
            out[msg.id] = msg.string
    return out


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a catalogue string."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def gettext(msgid: str, lang: str, /, **values: Any) -> str:
    """Translate ``msgid`` into ``lang`` and fill its placeholders from ``values``.

    Raises
    ------
    MissingMessage
        If ``msgid`` is not in the catalogue (no silent English fallback).
    KeyError
        If a placeholder has no value.
    """
    cat = catalogue(lang)
    try:
        text = cat[msgid]
    except KeyError:
        raise MissingMessage(f"message {msgid!r} is missing from the {lang!r} catalogue") from None
    return text.format(**values) if values or "{" in text else text


def has_message(msgid: str, lang: str) -> bool:
    """True if ``msgid`` is in the ``lang`` catalogue."""
    return msgid in catalogue(lang)


class Translator:
    """Bound ``gettext`` for one language: ``_ = Translator("fr"); _("ui.skip_link")``."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)

    def __call__(self, msgid: str, /, **values: Any) -> str:
        return gettext(msgid, self.lang, **values)

    def maybe(self, msgid: str, default: str) -> str:
        """Translation of ``msgid`` if the catalogue has it, else ``default`` (for data labels)."""
        return catalogue(self.lang).get(msgid, default)


# ---------------------------------------------------------------- numbers


def _locale(lang: str) -> Locale:
    return Locale.parse(LOCALES[check_lang(lang)])


def _pattern(decimals: int) -> str:
    return "#,##0" + ("." + "0" * decimals if decimals > 0 else "")


def fmt_number(value: float | int | None, lang: str, decimals: int = 0) -> str:
    """Locale number: ``fmt_number(12345.6, "fr", 1) == "12\u00a0345,6"``; ``""`` for null/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format_decimal(value, format=_pattern(decimals), locale=_locale(lang))


def fmt_percent(
    value: float | None, lang: str, decimals: int = 1, *, proportion: bool = False
) -> str:
    """Locale percentage of a value already in percent (0-100), or of a proportion (0-1).

    ``fmt_percent(12.5, "fr") == "12,5\u00a0%"`` (CLDR fr-CA puts a no-break space before the
    sign); ``fmt_percent(12.5, "en") == "12.5%"``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    pct = value * 100 if proportion else value
    number = fmt_number(pct, lang, decimals)
    # CLDR percent pattern: where the sign goes and with what spacing.
    pattern = _locale(lang).percent_formats[None].pattern
    suffix = pattern.split("0")[-1]
    prefix = pattern.split("#")[0] if pattern.startswith("%") else ""
    if prefix:
        return prefix + number
    return number + suffix.replace(" ", NBSP)


def fmt_in_ten(value: float, lang: str, *, proportion: bool = False) -> str:
    """Concrete frequency for plain-language text: 58.3 -> "about 6 in 10" ("environ 6 sur 10")."""
    pct = value * 100 if proportion else value
    n = int(math.floor(pct / 10 + 0.5))
    return gettext("youth.about_in_ten", lang, n=n)


def fmt_date(value: Any, lang: str) -> str:
    """Long date in the locale: ``2023-06-30`` -> "June 30, 2023" / "30 juin 2023"."""
    return format_date(value, format="long", locale=_locale(lang))


def school_year(start_year: int, lang: str) -> str:
    """School year label "2021-22" (en) / "2021-2022" (fr, as French boards write it)."""
    if lang == "fr":
        return f"{start_year}-{start_year + 1}"
    return f"{start_year}-{(start_year + 1) % 100:02d}"
