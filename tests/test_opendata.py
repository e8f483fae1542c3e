"""The open data: built from the protected tables alone (the same cells suppressed), to the
standard (every file has its metadata and passes the screener), readable with polars with every
column explained, and the table tool's data equal to the files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import polars as pl
import pytest

from analysis.analyse import load_results
from analysis.config import Config
from analysis.disclosure import Protected
from analysis.reports.i18n import LANGS, has_message
from analysis.reports.opendata import FOLDER, INDEX, datasets, pages, screen_dir
from analysis.reports.opendata import standard as std

SYMBOLS = set(std.SYMBOLS)


# ---------------------------------------------------------------- unit
def test_numbers_are_written_plainly() -> None:
    assert datasets.number_text(42) == "42"
    assert datasets.number_text(0.1234567, 100.0) == "12.34567"
    assert datasets.number_text(1 / 3) == "0.333333"
    assert datasets.number_text(-0.0000001) == "0"
    assert datasets.number_text(2.5) == "2.5"
    with pytest.raises(TypeError):
        datasets.number_text(True)


def test_school_years_become_six_digit_periods() -> None:
    assert std.school_period("2017-18") == "201718"
    assert std.school_period("1999-00") == "199900"
    assert std.period_label("201718", "en") == "2017-18"
    assert std.period_label("201718", "fr") == "2017-2018"
    with pytest.raises(ValueError):
        std.school_period("2017/18")


def test_every_label_is_in_both_catalogues() -> None:
    missing = []

    def need(msgid: str) -> None:
        missing.extend(f"{lang}:{msgid}" for lang in LANGS if not has_message(msgid, lang))

    for spec in datasets.SPECS:
        need(f"open.ds.{spec.name}.title")
        need(f"open.ds.{spec.name}.description")
        need(f"open.topic.{spec.topic}")
        for f in spec.filters:
            need(f"open.col.{f.name}")
            need(f"open.hint.{f.name}")
            if f.label is None:
                for code in f.values:
                    need(f"open.value.{f.name}.{code}")
        for i in spec.indicators:
            need(f"open.col.{i.name}")
    for c in std.OBSERVATIONAL_UNITS:
        need(f"open.col.{c}")
        need(f"open.desc.{c}")
    for lv in std.GEOGRAPHIC_LEVELS:
        need(f"open.level.{lv.code.removesuffix('_code')}")
    assert missing == []


def _protected(
    name: str, df: pl.DataFrame, dims: tuple[str, ...], stats: tuple[str, ...]
) -> Protected:
    return Protected(name=name, df=df, dims=dims, count="n", numerator="events", stats=stats)


def _places() -> datasets.Places:
    boards = pl.DataFrame({"board_id": ["B01"], "board_name": ["Board one"], "region": ["Toronto"]})
    socs = pl.DataFrame(
        {
            "society_id": ["S01", "S02", "S03"],
            "society_name": ["Society one", "Society two", "Society three"],
            "region": ["Toronto", "North", "North"],
            "indigenous": [False, True, False],
            "faith_based": [False, False, True],
        }
    )
    return datasets.Places(boards, socs)


def _indicator_table(rows: list[tuple[str, str, int | None, int | None, str]]) -> pl.DataFrame:
    df = pl.DataFrame(
        rows,
        schema={
            "fiscal_year": pl.String,
            "society_id": pl.String,
            "n": pl.Int64,
            "events": pl.Int64,
            "sym": pl.String,
        },
        orient="row",
    )
    rate = (pl.col("events") / pl.col("n")).alias("rate")
    return (
        df.with_columns(
            rate,
            (pl.col("events") / pl.col("n") - 0.05).alias("ci_low"),
            (pl.col("events") / pl.col("n") + 0.05).alias("ci_high"),
        )
        .with_columns(
            pl.lit("").alias("n__symbol"),
            pl.col("sym").alias("events__symbol"),
            pl.col("sym").alias("rate__symbol"),
            pl.col("sym").alias("ci_low__symbol"),
            pl.col("sym").alias("ci_high__symbol"),
        )
        .drop("sym")
    )


def test_a_file_is_a_reshaped_copy_of_published_cells() -> None:
    t = _indicator_table(
        [
            ("2021-22", "Total", 200, 170, ""),
            ("2021-22", "S01", 120, 100, ""),
            ("2021-22", "S02", 80, None, "c"),
            ("2022-23", "Total", 210, 160, ""),
            ("2022-23", "S01", 130, 100, ""),
        ]
    )
    results = {
        "indicator1_no_recurrence_investigation": _protected(
            "indicator1_no_recurrence_investigation",
            t.with_columns(
                pl.when(pl.col("events__symbol") == "c")
                .then(None)
                .otherwise(pl.col("rate"))
                .alias("rate")
            ),
            ("fiscal_year", "society_id"),
            ("rate", "ci_low", "ci_high"),
        )
    }
    built = datasets.build(
        datasets.SPEC_BY_NAME["safety_no_recurrence"], results, _places(), "202223"
    )
    assert built is not None
    df = built.frame
    # one case type only: the filter says nothing and is left out
    assert "case_type" not in df.columns
    prov = df.filter(pl.col("geographic_level") == "Provincial")
    assert prov["time_period"].to_list() == ["202122", "202223"]
    assert prov["cases_count"].to_list() == ["200", "210"]
    assert prov["no_recurrence_percent"].to_list() == ["85", "76.190476"]
    soc = {
        (r["society_code"], r["time_period"]): r
        for r in df.filter(pl.col("geographic_level") == std.SOCIETY.name).iter_rows(named=True)
    }
    assert soc[("S02", "202122")]["cases_count"] == "80"
    assert soc[("S02", "202122")]["no_recurrence_percent"] == "c"  # suppressed stays suppressed
    # completing the matrix: a society absent from a year held elsewhere is "z", never a number
    assert soc[("S02", "202223")]["cases_count"] == "z"
    assert soc[("S03", "202122")]["no_recurrence_percent"] == "z"
    assert soc[("S01", "202223")]["region_code"] == "R1"
    assert soc[("S02", "202223")]["region_name"] == "North"
    assert set(df.columns) >= {"province_code", "province_name", "society_code", "society_name"}
    assert "board_code" not in df.columns


def test_a_combination_held_nowhere_that_year_is_not_available() -> None:
    rows = []
    for months in (12, 24, 36):
        for fy in ("2019-20", "2020-21"):
            if months == 36 and fy == "2020-21":
                continue  # not yet observed
            rows.append((fy, "Total", months, 100, 50 + months))
    df = pl.DataFrame(
        rows,
        schema={
            "admission_fiscal_year": pl.String,
            "society_id": pl.String,
            "months": pl.Int32,
            "n": pl.Int64,
            "events": pl.Int64,
        },
        orient="row",
    ).with_columns(
        (pl.col("events") / pl.col("n")).alias("rate"),
        *[pl.lit("").alias(f"{c}__symbol") for c in ("n", "events", "rate")],
    )
    results = {
        "indicator4_exits": _protected(
            "indicator4_exits", df, ("admission_fiscal_year", "society_id", "months"), ("rate",)
        )
    }
    built = datasets.build(datasets.SPEC_BY_NAME["exits_from_care"], results, _places(), "202223")
    assert built is not None
    cell = built.frame.filter(
        (pl.col("time_period") == "202021")
        & (pl.col("months_since_admission") == "Within 36 months")
    )
    assert cell["left_care_percent"].to_list() == ["x"]
    assert cell["left_care_percent_lower_ci"].to_list() == ["x"]  # not in the table at all


def test_the_days_of_care_total_row_copies_published_cells() -> None:
    rows = []
    for group, events, days, sym in (
        ("family", 30, 900, ""),
        ("group", 5, None, "c"),
        ("other", 4, None, "c"),
    ):
        rows.append(
            (
                "2022-23",
                "Total",
                group,
                40,
                events if not sym else None,
                days,
                1000 if not sym else None,
                (days or 0) / 10,
                "",
                sym,
            )
        )
    df = (
        pl.DataFrame(
            rows,
            schema={
                "fiscal_year": pl.String,
                "society_id": pl.String,
                "placement_group": pl.String,
                "n": pl.Int64,
                "events": pl.Int64,
                "days": pl.Int64,
                "total_days": pl.Int64,
                "pct_days": pl.Float64,
                "n__symbol": pl.String,
                "sym": pl.String,
            },
            orient="row",
        )
        .with_columns(
            *[
                pl.col("sym").alias(f"{c}__symbol")
                for c in ("events", "days", "total_days", "pct_days")
            ]
        )
        .drop("sym")
    )
    results = {
        "indicator3_days_by_placement": _protected(
            "indicator3_days_by_placement",
            df,
            ("fiscal_year", "society_id", "placement_group"),
            ("pct_days", "days", "total_days"),
        )
    }
    built = datasets.build(datasets.SPEC_BY_NAME["placement_days"], results, _places(), "202223")
    assert built is not None
    total = built.frame.filter(pl.col("placement_type") == "Total").row(0, named=True)
    # children: n as every placement row publishes it; days: total_days as the family row shows it
    assert (total["children_in_care_count"], total["care_days"], total["care_days_percent"]) == (
        "40",
        "1000",
        "100",
    )


# ---------------------------------------------------------------- the build
def _open(cfg: Config) -> Path:
    return cfg.paths.reports_dir / FOLDER


def _index(cfg: Config) -> dict:
    return json.loads((_open(cfg) / INDEX).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_open_data_file_has_its_metadata_and_passes_the_screener(tiny_build: Config) -> None:
    folder = _open(tiny_build)
    data = sorted(p for p in folder.rglob("*.csv") if not p.name.endswith(".meta.csv"))
    assert len(data) == len(datasets.SPECS)
    for p in data:
        assert p.with_name(p.stem + ".meta.csv").is_file(), p.name
    result = screen_dir(folder)
    assert result.failures == []
    assert sorted(result.files()) == sorted(p.name for p in data)
    # every published geography: Ontario, regions, boards, societies and groups of societies
    by_file = {e["name"]: set(e["geographic_levels"]) for e in _index(tiny_build)["datasets"]}
    assert set().union(*by_file.values()) == {lv.name for lv in std.GEOGRAPHIC_LEVELS}
    for name in ("school_outcomes", "eqao"):  # (tiny's students are in no named society)
        assert std.REGIONAL.name in by_file[name], name
    for name in ("safety_no_recurrence", "placement_days", "exits_from_care"):
        assert {std.REGIONAL.name, std.SOCIETY_GROUP.name} <= by_file[name], name


@pytest.mark.slow
def test_a_new_user_can_read_every_file_and_find_every_column_explained(tiny_build: Config) -> None:
    folder = _open(tiny_build)
    index = _index(tiny_build)
    shared = index["columns"]
    for entry in index["datasets"]:
        df = pl.read_csv(folder / entry["file"], infer_schema_length=None)
        meta = pl.read_csv(folder / entry["meta"], infer_schema=False).fill_null("")
        assert df.height == entry["rows"] > 0
        described = dict(zip(meta["col_name"], meta.iter_rows(named=True), strict=True))
        for col in df.columns:
            if col in described:
                rec = described[col]
                assert rec["label"].strip() and rec["label_fr"].strip(), (entry["file"], col)
                assert rec["label"] != rec["label_fr"] or col in ("race",), (entry["file"], col)
            else:
                assert col in shared, f"{entry['file']}: {col} is explained nowhere"
                for lang in LANGS:
                    assert shared[col]["label"][lang] and shared[col]["description"][lang]
        # numbers come back as numbers once the symbols are set aside
        for ind in [
            r["col_name"] for r in meta.iter_rows(named=True) if r["col_type"] == "Indicator"
        ]:
            s = df[ind].cast(pl.String)
            nums = s.filter(~s.is_in(list(SYMBOLS))).cast(pl.Float64)
            assert nums.is_finite().all()


def _file_cells(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _same(file_cell: str, value: object, symbol: str, scale: float = 1.0) -> bool:
    if symbol in SYMBOLS:
        return file_cell == symbol
    if value is None:
        return file_cell == "x"
    return math.isclose(float(file_cell), float(value) * scale, rel_tol=0, abs_tol=1e-6)


@pytest.mark.slow
def test_every_filter_value_has_its_french_label(tiny_build: Config) -> None:
    from analysis.reports.i18n import catalogue

    french = set(catalogue("fr").values())
    for e in _index(tiny_build)["datasets"]:
        for f in e["filters"]:
            spec = datasets.SPEC_BY_NAME[e["name"]]
            computed = next(x for x in spec.filters if x.name == f["name"]).label is not None
            for v in f["values"]:
                assert computed or v["fr"] in french, (e["name"], f["name"], v)


@pytest.mark.slow
def test_the_files_hold_the_published_cells_and_suppress_the_same_ones(tiny_build: Config) -> None:
    """Independent of the builder: cell by cell against three published tables, and the count of
    suppressed cells of each file equal to the count in the tables it copies."""
    cfg = tiny_build
    results = load_results(cfg)
    folder = _open(cfg)
    checks = 0
    withheld = 0
    # 1. outcomes by care status (Ontario)
    rows = _file_cells(folder / "school_outcomes.csv")
    care = {
        "in_care": "In care",
        "kinship_service": "Kinship service",
        "none": "No child welfare service that year",
        "vysa": "Voluntary youth services agreement",
        "ccsyp": "Continued care and support for youth",
    }
    outcome = {
        "chronic_absent": "Chronic absence",
        "on_track": "On track (16 credits by the end of Grade 10)",
        "osslt_first_time_pass": "Passed the literacy test (OSSLT) the first time",
    }
    key = {
        (r["time_period"], r["outcome"], r["care_status"]): r
        for r in rows
        if r["geographic_level"] == "Provincial"
        and r["grade"] == "Total"
        and r["ever_in_care"] == "Total"
    }
    for rec in results["outcomes_by_care_status"].df.iter_rows(named=True):
        r = key[
            (
                std.school_period(rec["school_year"]),
                outcome[rec["outcome"]],
                care[rec["care_status"]],
            )
        ]
        assert _same(r["students_count"], rec["n"], rec["n__symbol"])
        assert _same(r["outcome_percent"], rec["rate"], rec["rate__symbol"], 100)
        assert _same(r["outcome_percent_upper_ci"], rec["ci_high"], rec["ci_high__symbol"], 100)
        checks += 1
    # 2. EQAO by board
    rows = _file_cells(folder / "eqao.csv")
    ever = {True: "Ever in care", False: "Never in care"}
    key = {
        (r["time_period"], r["board_code"], r["assessment"], r["ever_in_care"]): r
        for r in rows
        if r["geographic_level"] == "School board"
    }
    assess = {
        v["value"]: v
        for f in next(e for e in _index(cfg)["datasets"] if e["name"] == "eqao")["filters"]
        if f["name"] == "assessment"
        for v in f["values"]
    }
    assert len(assess) == 8
    names = {
        c: datasets.value_label(datasets.F_ASSESSMENT, c, "en")
        for c in datasets.F_ASSESSMENT.values
    }
    for rec in results["eqao_by_board"].df.iter_rows(named=True):
        if rec["board_id"] is None:  # withheld by the de-identification: no place in the files
            withheld += 1
            continue
        r = key[
            (
                std.school_period(rec["school_year"]),
                rec["board_id"],
                names[rec["assessment"]],
                ever[rec["ever_in_care"]],
            )
        ]
        assert _same(r["students_at_standard_count"], rec["events"], rec["events__symbol"])
        assert _same(r["at_standard_percent"], rec["rate"], rec["rate__symbol"], 100)
        checks += 1
    # 3. indicator 1, Ontario and societies
    rows = _file_cells(folder / "safety_no_recurrence.csv")
    key = {
        (r["time_period"], r["society_code"] or "Total"): r
        for r in rows
        if r["case_type"] == "Closed after an investigation (indicator 1)"
        and r["geographic_level"] in (std.PROVINCIAL.name, std.SOCIETY.name)
    }
    for rec in results["indicator1_no_recurrence_investigation"].df.iter_rows(named=True):
        r = key[(std.school_period(rec["fiscal_year"]), rec["society_id"])]
        assert _same(r["cases_count"], rec["n"], rec["n__symbol"])
        assert _same(r["no_recurrence_percent"], rec["rate"], rec["rate__symbol"], 100)
        checks += 1
    # ... and by region: the same cells of the table by region (its Ontario rows are not repeated)
    regional = {
        (r["time_period"], r["region_name"]): r
        for r in rows
        if r["case_type"] == "Closed after an investigation (indicator 1)"
        and r["geographic_level"] == std.REGIONAL.name
    }
    by_region = results["indicator1_no_recurrence_investigation_by_region"].df
    compared = 0
    for rec in by_region.filter(pl.col("region") != "Total").iter_rows(named=True):
        r = regional[(std.school_period(rec["fiscal_year"]), rec["region"])]
        assert r["region_code"] == std.REGION_CODES[rec["region"]]
        assert _same(r["cases_count"], rec["n"], rec["n__symbol"])
        compared += 1
    assert compared > 0 and compared == len(regional)
    # every row of the three tables was compared, except the boards the de-identification withheld,
    # and those are few: the comparison covers the tables, not a corner of them
    rows_in_tables = sum(
        results[t].df.height
        for t in (
            "outcomes_by_care_status",
            "eqao_by_board",
            "indicator1_no_recurrence_investigation",
        )
    )
    assert checks == rows_in_tables - withheld
    assert withheld < 0.2 * rows_in_tables
    assert checks > 300
    # the same cells suppressed: as many c in each file column as in the columns it copies
    for spec in datasets.SPECS:
        file_rows = _file_cells(folder / f"{spec.name}.csv")
        for ind in spec.indicators:
            if spec.name == "placement_days":
                continue  # its Total rows repeat cells (tested above)
            in_file = sum(r[ind.name] == "c" for r in file_rows)
            in_tables = 0
            for part in spec.parts:
                df = results[part.table].df
                if part.where is not None:
                    df = df.filter(part.where)
                withheld = [part.location] if part.location else []
                withheld += [c for c in part.filters.values() if not c.startswith("=")]
                withheld = [c for c in withheld if c in df.columns]
                if withheld:  # rows of a withheld board or grade are not in the files
                    df = df.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in withheld]))
                sym = ind.source + "__symbol"
                if sym in df.columns:
                    in_tables += int((df[sym] == "c").sum())
            assert in_file == in_tables, (spec.name, ind.name)


@pytest.mark.slow
def test_the_table_tool_holds_exactly_the_files(tiny_build: Config) -> None:
    root = tiny_build.paths.reports_dir
    js = (root / pages.EXPLORE_DIR / pages.DATA_JS).read_text(encoding="utf-8")
    start = js.index("window.OPEN_DATA = ") + len("window.OPEN_DATA = ")
    data = json.loads(js[start : js.rindex(";")])
    folder = _open(tiny_build)
    assert len(data["datasets"]) == len(datasets.SPECS)
    for ds in data["datasets"]:
        with (folder / ds["file"]).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        assert pages.decode_rows(ds) == rows, ds["file"]
    script = (root / pages.EXPLORE_DIR / "explore.js").read_text(encoding="utf-8")
    for text in (js, script):
        assert "http://" not in text and "https://" not in text
        assert "fetch(" not in text and "XMLHttpRequest" not in text


@pytest.mark.slow
def test_both_indexes_link_the_catalogue_and_the_table_tool(tiny_build: Config) -> None:
    root = tiny_build.paths.reports_dir
    for lang, index in (("en", "index.html"), ("fr", "index-fr.html")):
        page = (root / index).read_text(encoding="utf-8")
        for href, _ in pages.site_links(lang):
            assert f'href="{href}"' in page
            assert (root / href).is_file()
        cat = (root / pages.catalogue_name(lang)).read_text(encoding="utf-8")
        for e in _index(tiny_build)["datasets"]:
            assert f'href="{FOLDER.as_posix()}/{e["file"]}"' in cat
            assert f'href="{FOLDER.as_posix()}/{e["meta"]}"' in cat


@pytest.mark.slow
def test_a_screener_failure_fails_the_render_and_keeps_the_reports(
    tiny_build: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render stage screens the open data before it swaps the new reports in: a file the
    screener fails (here, written with a byte-order mark) stops the build, and the reports
    already published stay as they were. (Every report comes from the render cache.)"""
    from analysis.io import hash_tree
    from analysis.reports import build as render_stage
    from analysis.reports.opendata import ScreenerError, files

    before = hash_tree(tiny_build.paths.reports_dir)
    plain = files.csv_bytes
    monkeypatch.setattr(files, "csv_bytes", lambda h, r: b"\xef\xbb\xbf" + plain(h, r))
    with pytest.raises(ScreenerError, match="byte-order mark"):
        render_stage.run(tiny_build)
    assert hash_tree(tiny_build.paths.reports_dir) == before


def test_the_audit_reads_every_open_data_file_row_by_row(tiny_build: Config) -> None:
    """The open data are tables a reader can difference against the reports: the build's audit
    reads every file, traces every row to the release and finds every number equal to its cell;
    a changed number is caught."""
    from analysis.analyse import STRUCTURE
    from analysis.disclosure.attack import RELEASE_DIR, read_printed, read_release
    from analysis.reports import audit
    from analysis.reports.opendata import audit_files
    from analysis.reports.opendata.files import audit_name

    cfg = tiny_build
    folder = cfg.paths.reports_dir / FOLDER
    names = sorted(p.stem for p in folder.glob("*.csv") if not p.name.endswith(std.META_SUFFIX))
    files = audit_files(folder)
    assert sorted(files) == sorted(audit_name(n) for n in names)
    provenance = audit.read_provenance([audit.folder(cfg) / audit.PRINTED_FILE])
    for name, text in files.items():
        rows = text.count("\n") - 1
        assert len(provenance[name]) == rows, name
        assert sum(s is not None for s in provenance[name]) > 0, name
    release = read_release(cfg.paths.results / RELEASE_DIR)
    printed = read_printed(release, files, provenance, STRUCTURE, cfg.privacy.round_base)
    assert printed.problems == []
    assert printed.numbers > 0
    report = json.loads((audit.folder(cfg) / audit.AUDIT_FILE).read_text(encoding="utf-8"))
    assert report["passed"] and report["summary"]["files"] >= len(files)

    # change one printed count in the file a reader holds: the audit sees it
    name = audit_name("placement_days")
    lines = files[name].splitlines()
    header = lines[0].split(",")
    col = header.index("n")
    for k, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        src = provenance[name][k - 1]
        if src and ":" in src and cells[col].isdigit():
            cells[col] = str(int(cells[col]) + 7)
            lines[k] = ",".join(cells)
            break
    else:
        pytest.fail("no printed count in placement_days")
    changed = {**files, name: "\n".join(lines) + "\n"}
    bad = read_printed(release, changed, provenance, STRUCTURE, cfg.privacy.round_base)
    assert [p["rule"] for p in bad.problems] == [
        "printed number differs from the release's value of its cell"
    ]
