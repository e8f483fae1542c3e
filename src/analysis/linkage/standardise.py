"""Standardise identifiers before linkage.

Both sources are brought to one shape (one row per child-welfare record, one row per student)
with the same columns, so that splink compares like with like:

``unique_id``, ``oen`` (Luhn-valid OEN or null), ``first_name``, ``first_name_forms`` (the name
plus every formal name it is a nickname of), ``last_name`` (letters only, parts joined),
``last_name_tokens`` (the parts of a hyphenated or double surname), ``first_prefix``,
``last_prefix`` (the first two letters of each name, for blocking), ``dob`` (``YYYY-MM-DD``),
``dob_year``, ``dob_month``, ``dob_day``, ``dob_days`` (days since 1970-01-01), ``gender``
(female|male|null: :data:`analysis.domain.vocab.SCHOOL_GENDER_OF_IDENTITY`), ``postal_codes``
(list of ``A1A1A1``), ``postal_fsas`` (list of forward sortation areas), ``postal_regions`` (list
of first letters: the postal district, one per region in Ontario,
:data:`analysis.domain.vocab.REGION_LETTER`), ``home_districts`` (list of postal districts where
the person is known to live: a student's own ``postal_regions``; for a child-welfare record, the
district its society serves, taken as the most common district among that society's records).

OnSIS holds one row per student and school year; it is collapsed to one row per OEN keeping the
latest name, birth date and gender and *every* postal code the student had, because a
child-welfare record's address may match an older school year's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from analysis.domain.names import NICKNAMES
from analysis.domain.oen import oen_is_valid
from analysis.domain.vocab import SCHOOL_GENDER_OF_IDENTITY

ONSIS_COLUMNS = (
    "oen",
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "postal_code",
    "school_year",
)
CPIN_COLUMNS = ("cw_record_id", "first_name", "last_name", "birth_date", "oen", "postal_code")

LINK_COLUMNS = (
    "unique_id",
    "oen",
    "first_name",
    "first_name_forms",
    "last_name",
    "last_name_tokens",
    "first_prefix",
    "last_prefix",
    "dob",
    "dob_year",
    "dob_month",
    "dob_day",
    "dob_days",
    "gender",
    "postal_codes",
    "postal_fsas",
    "postal_regions",
    "home_districts",
)

# school genders with a child-welfare equivalent ("another" has none: not evidence either way)
_LINK_GENDERS = tuple(SCHOOL_GENDER_OF_IDENTITY.values())
_POSTAL_RE = r"^[A-Z][0-9][A-Z][0-9][A-Z][0-9]$"


def _fold(expr: pl.Expr) -> pl.Expr:
    """Lower case, accents removed (NFKD then drop combining marks)."""
    return expr.str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase()


def clean_first_name(expr: pl.Expr) -> pl.Expr:
    """Letters only: ``"Ji-woo"`` and ``"Ji Woo"`` both become ``"jiwoo"``; empty becomes null."""
    out = _fold(expr).str.replace_all(r"[^a-z]", "")
    return pl.when(out.str.len_chars() > 0).then(out).otherwise(None)


def surname_tokens(expr: pl.Expr) -> pl.Expr:
    """The parts of a surname (split at hyphens and spaces; apostrophes and dots dropped)."""
    folded = _fold(expr).str.replace_all(r"['’`.]", "").str.replace_all(r"[^a-z]+", " ")
    return (
        folded.str.strip_chars().str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    )


def clean_postal(expr: pl.Expr) -> pl.Expr:
    """``"a1a 1a1"`` -> ``"A1A1A1"``; anything that is not a Canadian postal code becomes null."""
    out = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")
    return pl.when(out.str.contains(_POSTAL_RE)).then(out).otherwise(None)


def luhn_valid(expr: pl.Expr) -> pl.Expr:
    """True when ``expr`` is a valid OEN (:func:`analysis.domain.oen.oen_is_valid`); null in, false out."""
    return oen_is_valid(expr).fill_null(False)


def clean_oen(expr: pl.Expr) -> pl.Expr:
    """Digits only; null unless 9 digits with a valid Luhn check digit."""
    digits = expr.str.replace_all(r"[\s-]", "")
    return pl.when(luhn_valid(digits)).then(digits).otherwise(None)


@lru_cache(maxsize=1)
def nickname_forms() -> dict[str, tuple[str, ...]]:
    """Standardised name -> the formal names it may stand for (from ``analysis.domain.names.NICKNAMES``)."""
    frame = pl.DataFrame(
        {
            "formal": [f for f, nicks in NICKNAMES.items() for _ in nicks],
            "nick": [n for nicks in NICKNAMES.values() for n in nicks],
        }
    ).with_columns(clean_first_name(pl.col("formal")), clean_first_name(pl.col("nick")))
    out: dict[str, set[str]] = {}
    for formal, nick in frame.iter_rows():
        out.setdefault(nick, set()).add(formal)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _add_forms(df: pl.DataFrame) -> pl.DataFrame:
    forms = nickname_forms()
    names = df.select(pl.col("first_name").drop_nulls().unique())["first_name"].to_list()
    lookup = pl.DataFrame(
        {
            "first_name": names,
            "first_name_forms": [sorted({n, *forms.get(n, ())}) for n in names],
        },
        schema={"first_name": pl.String, "first_name_forms": pl.List(pl.String)},
    )
    return df.join(lookup, on="first_name", how="left")


def _common(df: pl.DataFrame) -> pl.DataFrame:
    """Columns derived the same way on both sides (expects the cleaned base columns)."""
    df = _add_forms(df)
    bd = pl.col("birth_date")
    derived = [
        pl.col("postal_codes")
        .list.eval(pl.element().str.slice(0, width))
        .list.unique()
        .list.sort()
        .alias(name)
        for name, width in (("postal_fsas", 3), ("postal_regions", 1))
        if name not in df.columns
    ]
    df = df.with_columns(*derived).with_columns(
        pl.col("last_name_tokens").list.join("").alias("last_name")
    )

    def empty_to_null(col: str) -> pl.Expr | None:
        # a copy of the column only when it has an empty list or string to replace
        empty = pl.col(col).list.len() == 0 if df.schema[col] != pl.String else pl.col(col) == ""
        if not df.select(empty.any()).item():
            return None
        return pl.when(empty).then(None).otherwise(pl.col(col)).alias(col)

    nulls = [
        e
        for e in map(
            empty_to_null,
            ("last_name", "last_name_tokens", "postal_codes", "postal_fsas", "postal_regions"),
        )
        if e is not None
    ]
    df = df.with_columns(
        pl.col("first_name").str.slice(0, 2).alias("first_prefix"),
        pl.col("last_name").str.slice(0, 2).alias("last_prefix"),
        bd.dt.strftime("%Y-%m-%d").alias("dob"),
        bd.dt.year().cast(pl.Int32).alias("dob_year"),
        bd.dt.month().cast(pl.Int32).alias("dob_month"),
        bd.dt.day().cast(pl.Int32).alias("dob_day"),
        bd.cast(pl.Int32).alias("dob_days"),
        *nulls,
    )
    if "home_districts" not in df.columns:  # students: where they lived is where they live
        df = df.with_columns(pl.col("postal_regions").alias("home_districts"))
    return df.select(LINK_COLUMNS)


def _cleaned(lf: pl.LazyFrame, col: str, clean: Any) -> pl.LazyFrame:
    """``col`` -> ``_clean`` for each distinct value of ``col`` (clean once, join back)."""
    return (
        lf.select(pl.col(col))
        .unique()
        .filter(pl.col(col).is_not_null())
        .with_columns(clean(pl.col(col)).alias("_clean"))
    )


def _check_columns(schema: pl.Schema, needed: tuple[str, ...], source: str) -> None:
    missing = [c for c in needed if c not in schema.names()]
    if missing:
        raise ValueError(f"{source}: missing required column(s) {missing} (rule: data contract)")


def standardise_students(
    onsis: pl.DataFrame | pl.LazyFrame, source: str = "onsis_enrolment"
) -> pl.DataFrame:
    """Collapse OnSIS student-years to one standardised row per OEN.

    Parameters
    ----------
    onsis
        Rows of ``onsis_enrolment`` (at least :data:`ONSIS_COLUMNS`).
    source
        Name used in error messages.

    Returns
    -------
    polars.DataFrame
        One row per OEN with :data:`LINK_COLUMNS`; ``unique_id`` and ``oen`` are the OEN, rows
        sorted by OEN. The identity (name, birth date, gender) is the one of the student's latest
        school year (ties in a year broken by sort order); the postal codes are all of them.
    """
    lf = onsis.lazy()
    _check_columns(lf.collect_schema(), ONSIS_COLUMNS, source)
    ident = ["first_name", "last_name", "birth_date", "gender"]
    rows = lf.select(ONSIS_COLUMNS).collect()
    # Group on an integer key when every OEN is a string of digits of one length (the cast is
    # then one-to-one): hashing 12 M integers is several times cheaper than 12 M strings.
    lens = rows.select(
        pl.col("oen").str.len_bytes().min().alias("lo"),
        pl.col("oen").str.len_bytes().max().alias("hi"),
        pl.col("oen").str.contains(r"^[0-9]+$").all().alias("digits"),
        pl.col("oen").null_count().alias("nulls"),
    ).row(0, named=True)
    if lens["digits"] and lens["nulls"] == 0 and lens["lo"] == lens["hi"] and lens["hi"] <= 18:
        rows = rows.with_columns(pl.col("oen").cast(pl.Int64).alias("_k"))
    else:
        rows = rows.with_columns(pl.col("oen").alias("_k"))
    # One pass per student: its latest year, the first row's identity and a hash of every
    # row's identity; a student whose identity hashes all agree (nearly all) has one identity.
    rows = rows.with_columns(pl.struct(ident).hash(0).alias("_h"))
    per = rows.group_by("_k").agg(
        pl.col("oen").first(),
        *[pl.col(c).first() for c in ident],
        pl.col("_h").min().alias("_hmin"),
        pl.col("_h").max().alias("_hmax"),
    )
    multi = per.filter(pl.col("_hmin") != pl.col("_hmax")).select("_k")
    if multi.height:
        latest = (
            rows.join(multi, on="_k", how="semi")
            .sort(
                ["_k", "school_year", *ident],
                descending=[False, True] + [False] * len(ident),
                nulls_last=True,
            )
            .unique(subset="_k", keep="first", maintain_order=True)
            .select("_k", *ident)
        )
        per = pl.concat(
            [
                per.join(multi, on="_k", how="anti").select("_k", "oen", *ident),
                per.join(multi, on="_k", how="semi").select("_k", "oen").join(latest, on="_k"),
            ]
        )
    else:
        per = per.select("_k", "oen", *ident)
    # Postal codes: distinct (student, raw code), each distinct code cleaned once, then every
    # code, forward sortation area and district of the student in one group-by.
    raw_postal = rows.select("_k", "postal_code").unique().drop_nulls("postal_code")
    del rows
    clean = _cleaned(raw_postal.lazy(), "postal_code", clean_postal).collect()
    codes = (
        raw_postal.join(clean, on="postal_code", how="inner")
        .select("_k", pl.col("_clean").alias("_c"))
        .drop_nulls("_c")
    )

    # Sorted once by student and code: the codes' prefixes are then sorted too, and a value is
    # new for its student when it differs from the row before (no per-group unique or sort).
    codes = codes.sort("_k", "_c").with_columns(
        pl.col("_c").str.slice(0, 3).alias("_f"), pl.col("_c").str.slice(0, 1).alias("_r")
    )

    def lists(col: str, name: str) -> pl.DataFrame:
        new = (pl.col("_k") != pl.col("_k").shift()) | (pl.col(col) != pl.col(col).shift())
        return (
            codes.filter(new.fill_null(True))
            .group_by("_k", maintain_order=True)
            .agg(pl.col(col).alias(name))
        )

    postal = (
        lists("_c", "postal_codes")
        .join(lists("_f", "postal_fsas"), on="_k")
        .join(lists("_r", "postal_regions"), on="_k")
    )
    first = _cleaned(per.lazy(), "first_name", clean_first_name).collect()
    last = _cleaned(per.lazy(), "last_name", surname_tokens).collect()
    collapsed = (
        per.sort("_k")  # OEN order: the integer key sorts like its equal-length digit strings
        .join(postal, on="_k", how="left", maintain_order="left")
        .join(first, on="first_name", how="left", maintain_order="left")
        .join(last, on="last_name", how="left", suffix="_last", maintain_order="left")
        .with_columns(
            pl.col("oen").alias("unique_id"),
            pl.col("_clean").alias("first_name"),
            pl.col("_clean_last").alias("last_name_tokens"),
            pl.when(pl.col("gender").is_in(_LINK_GENDERS)).then(pl.col("gender")).alias("gender"),
        )
        .drop("_clean", "_clean_last", "_k")
    )
    return _common(collapsed)


def standardise_cw(cpin: pl.DataFrame | pl.LazyFrame, source: str = "cpin_persons") -> pl.DataFrame:
    """Standardise child-welfare person records (one row per ``cw_record_id``).

    The reported OEN is kept only when it is 9 digits with a valid Luhn check digit; gender
    identity is mapped to the school gender codes where they correspond (girl/woman, boy/man),
    else null (not evidence either way).
    """
    lf = cpin.lazy()
    schema = lf.collect_schema()
    _check_columns(schema, CPIN_COLUMNS, source)
    gender = (
        pl.col("gender_identity").replace_strict(
            SCHOOL_GENDER_OF_IDENTITY, default=None, return_dtype=pl.String
        )
        if "gender_identity" in schema.names()
        else pl.lit(None, dtype=pl.String)
    )
    df = (
        lf.with_columns(
            pl.col("cw_record_id").alias("unique_id"),
            clean_oen(pl.col("oen")).alias("oen"),
            clean_first_name(pl.col("first_name")).alias("first_name"),
            surname_tokens(pl.col("last_name")).alias("last_name_tokens"),
            gender.alias("gender"),
            pl.concat_list(clean_postal(pl.col("postal_code")))
            .list.drop_nulls()
            .alias("postal_codes"),
        )
        .sort("unique_id")
        .collect()
    )
    return _common(_with_society_district(df))


def _with_society_district(df: pl.DataFrame) -> pl.DataFrame:
    """``home_districts``: the postal district a record's society serves, as a one-element list.

    A society's district is the most common postal district among its own records (ties to the
    alphabetically first); a society without postal codes, or a record without a society, gets
    null. An outdated postal code usually stays in the family's district, but a record whose
    postal code points elsewhere is still placed by the society that serves the child.
    """
    if "society_id" not in df.columns:
        return df.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("home_districts"))
    district = pl.col("postal_codes").list.first().str.slice(0, 1)
    soc = (
        df.filter(pl.col("society_id").is_not_null() & district.is_not_null())
        .group_by("society_id", district.alias("_d"))
        .len()
        .sort(["society_id", "len", "_d"], descending=[False, True, False])
        .unique(subset="society_id", keep="first", maintain_order=True)
        .select("society_id", pl.concat_list("_d").alias("home_districts"))
    )
    return df.join(soc, on="society_id", how="left", maintain_order="left")


def flag_enrolled_oens(
    cw: pl.DataFrame, students: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add ``oen_enrolled``: whether the record's (Luhn-valid) OEN is any enrolled student's.

    A child-welfare OEN that belongs to no student is evidence that the child has no school record
    (or that the OEN is wrong); the OEN comparison uses it (:mod:`analysis.linkage.model`). Null
    where the record has no valid OEN; always true for students.
    """
    known = students.select(pl.col("oen").drop_nulls().unique())
    cw = cw.with_columns(
        pl.when(pl.col("oen").is_null())
        .then(None)
        .otherwise(pl.col("oen").is_in(known["oen"].implode()))
        .alias("oen_enrolled")
    )
    students = students.with_columns(pl.lit(True).alias("oen_enrolled"))
    return cw, students


def read_sources(sources_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read and standardise ``cpin_persons.parquet`` and ``onsis_enrolment.parquet``
    (:data:`LINK_COLUMNS`, plus ``oen_enrolled`` from :func:`flag_enrolled_oens`).

    Returns
    -------
    cw, students
    """
    cw_path = sources_dir / "cpin_persons.parquet"
    st_path = sources_dir / "onsis_enrolment.parquet"
    for p in (cw_path, st_path):
        if not p.is_file():
            raise ValueError(f"{p}: source file not found (rule: linkage needs both sources)")
    cw = standardise_cw(pl.scan_parquet(cw_path), source=str(cw_path))
    students = standardise_students(pl.scan_parquet(st_path), source=str(st_path))
    return flag_enrolled_oens(cw, students)
