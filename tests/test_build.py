"""The annual build end to end at `tiny`: every report, the site, the manifest, skipping, separation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from analysis.io import hash_tree, sha256_file
from analysis.pipeline import build, run_stage
from analysis.reports.build import report_jobs
from conftest import copy_build, make_cfg

pytestmark = pytest.mark.slow


def test_every_expected_report_exists_and_is_linked(tiny_build):
    cfg = tiny_build
    root = cfg.paths.reports_dir
    jobs = report_jobs(cfg)
    assert len(jobs) == 2 + 2 + 4 + 72 + 50  # ministry, youth, sector (2 x 2), boards, societies
    index = (root / "index.html").read_text(encoding="utf-8")
    index_fr = (root / "index-fr.html").read_text(encoding="utf-8")
    for job in jobs:
        for ext in ("html", "pdf"):
            assert (root / f"{job.slug}.{ext}").is_file(), job.slug
        assert f'href="{job.slug}.html"' in index and f'href="{job.slug}.pdf"' in index, job.slug
        assert f'href="{job.slug}.html"' in index_fr
        assert (root / "notebooks" / f"{job.slug}.ipynb").is_file()  # the executed notebook
    for lang in ("en", "fr"):
        assert (root / f"methodology-{lang}.html").is_file()
    # French boards get French reports.
    boards = pl.read_parquet(cfg.paths.analytic / "boards.parquet")
    fr = boards.filter(pl.col("language") == "fr")["board_id"].to_list()
    assert len(fr) == 12
    for bid in fr:
        page = (root / f"board-{bid.lower()}-fr.html").read_text(encoding="utf-8")
        assert '<html lang="fr' in page


def test_no_external_resource_in_any_html(tiny_build):
    pages = list(tiny_build.paths.reports_dir.rglob("*.html"))
    assert len(pages) > 120
    url = re.compile(r"https?://", re.IGNORECASE)
    for page in pages:
        assert not url.search(page.read_text(encoding="utf-8")), page.name


def test_every_pdf_opens_is_tagged_and_has_text(tiny_build):
    pdfs = sorted(tiny_build.paths.reports_dir.glob("*.pdf"))
    assert len(pdfs) > 120
    for pdf in pdfs:
        reader = PdfReader(pdf)
        text = "".join(page.extract_text() or "" for page in reader.pages)
        assert len(text) > 200, pdf.name
        root = reader.trailer["/Root"]
        assert "/StructTreeRoot" in root and "/Lang" in root, pdf.name
        assert reader.metadata is not None and reader.metadata.title, pdf.name


def test_every_download_is_open_data_with_symbols_not_small_numbers(tiny_build):
    from analysis.reports.opendata import FOLDER
    from analysis.reports.opendata.standard import META_SUFFIX

    cfg = tiny_build
    root = cfg.paths.reports_dir
    # no CSV of a single chart: what a reader downloads is the open data, to its standard
    assert sorted(p.name for p in (root / "data").iterdir()) == [FOLDER.name]
    files = [p for p in (root / FOLDER).glob("*.csv") if not p.name.endswith(META_SUFFIX)]
    assert len(files) >= 10
    saw_symbol = False
    for c in files:
        df = pl.read_csv(c, infer_schema=False)
        for col in (c for c in df.columns if c.endswith("_count")):
            vals = df[col].drop_nulls()
            saw_symbol |= bool((vals == "c").any())
            nums = vals.filter(vals.str.contains(r"^\d+$")).cast(pl.Int64)
            assert not ((nums > 0) & (nums < cfg.privacy.min_cell)).any(), (c.name, col)
    assert saw_symbol
    # each report links the open data files its tables are rows of, and they are there
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    linked = 0
    for e in manifest["reports"]:
        page = (root / e["html"]).read_text(encoding="utf-8")
        for name in e["data_files"]:
            href = (FOLDER / f"{name}.csv").as_posix()
            assert f'href="{href}"' in page, (e["slug"], name)
            assert (root / href).is_file(), href
            linked += 1
    by_kind = {e["kind"]: e for e in manifest["reports"]}
    for kind in ("ministry", "board", "society", "youth"):
        assert by_kind[kind]["data_files"], kind
    assert linked > len(manifest["reports"])


def test_manifest_hashes_match_files_and_hold_no_key(tiny_build):
    root = tiny_build.paths.reports_dir
    text = (root / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert manifest["seed"] == tiny_build.seed
    assert manifest["outputs"], "no outputs listed"
    for rel, digest in manifest["outputs"].items():
        assert sha256_file(root / rel) == digest, rel
    assert set(manifest["outputs"]) == {p for p in hash_tree(root) if p != "manifest.json"}
    for rel, digest in manifest["inputs"].items():
        folder, _, name = rel.partition("/")
        base = {"analytic": tiny_build.paths.analytic, "results": tiny_build.paths.results}[folder]
        assert sha256_file(base / name) == digest, rel
    assert manifest["study_key"]["development_key"] is True
    assert len(manifest["study_key"]["key_fingerprint"]) >= 8
    rows = manifest["rows_per_stage"]
    assert {"validate", "link", "deidentify", "analyse"} <= set(rows)


def test_identifiers_appear_nowhere_downstream(tiny_build):
    from analysis.deidentify import scan_for_identifiers

    cfg = tiny_build
    hits = scan_for_identifiers(
        [cfg.paths.analytic, cfg.paths.results, cfg.paths.reports_dir], cfg.paths.sources
    )
    assert hits == []


def test_rebuild_with_nothing_changed_redoes_nothing(tiny_build, tmp_path):
    cfg = copy_build(tiny_build, tmp_path)
    before = hash_tree(cfg.paths.reports_dir)
    record = build(cfg)
    assert all(s["skipped"] for s in record.stages.values()), record.stages
    assert hash_tree(cfg.paths.reports_dir) == before


def test_forced_rerender_gives_the_same_bytes(tiny_build, tmp_path):
    """Every published file, executed notebooks included, is reproducible: a forced re-render
    (new kernels, no render cache, the shared kernel's state from other reports) changes nothing.
    On a copy of the build in another folder (the shared build stays as other tests read it):
    the executed notebooks and the manifest name the folders, so a file that differs must be the
    original with the original folders' names replaced by the copy's, byte for byte."""
    cfg = copy_build(tiny_build, tmp_path)
    shutil.rmtree(cfg.paths.data_dir / ".render-cache")
    before = hash_tree(tiny_build.paths.reports_dir)
    run_stage(cfg, "render", force=True)
    after = hash_tree(cfg.paths.reports_dir)
    assert sorted(after) == sorted(before)
    moved = [
        (str(tiny_build.paths.data_dir), str(cfg.paths.data_dir)),
        (str(tiny_build.paths.reports_dir), str(cfg.paths.reports_dir)),
    ]

    # a render-cache entry is keyed on the report's parameters, the folders among them
    entry = re.compile(r"\.render-cache/[0-9a-f]{32}")

    def relocated(rel: str) -> bool:
        text = (tiny_build.paths.reports_dir / rel).read_text(encoding="utf-8")
        for old, new in moved:
            text = text.replace(old, new)
        text = entry.sub(".render-cache/ENTRY", text)
        copy = entry.sub(
            ".render-cache/ENTRY", (cfg.paths.reports_dir / rel).read_text(encoding="utf-8")
        )
        if rel != "manifest.json":
            return text == copy
        # the manifest also hashes the executed notebooks: those hashes are the copy's own files'
        a, b = json.loads(text), json.loads(copy)
        outputs = b.pop("outputs")
        a.pop("outputs")
        return a == b and outputs == {k: v for k, v in after.items() if k != "manifest.json"}

    changed = sorted(k for k in before if before[k] != after[k])
    # only files that name a folder may differ, and only by the folder's name
    assert all(k.endswith((".ipynb", ".json")) for k in changed), changed
    assert [k for k in changed if not relocated(k)] == []


def test_reports_build_without_identifiable_sources(tiny_build, tmp_path):
    """Separation: analysis and reports need the analytic dataset alone."""
    cfg = make_cfg(tmp_path)
    shutil.copytree(tiny_build.paths.analytic, cfg.paths.analytic)
    assert (
        not cfg.paths.sources.exists()
        and not cfg.paths.linkage.exists()
        and not cfg.paths.truth.exists()
    )
    cfg = cfg.with_overrides(
        reports={
            "languages": ["en", "fr"],
            "formats": ["html", "pdf"],
            "only": ["ministry-en", "board-b01-en", "society-s01-en", "youth-fr"],
        }
    )
    run_stage(cfg, "analyse", force=True)
    run_stage(cfg, "render", force=True)
    for slug in ("ministry-en", "board-b01-en", "society-s01-en", "youth-fr"):
        assert (cfg.paths.reports_dir / f"{slug}.html").is_file()
    # The methodology page keeps its linkage section: it reads the analytic zone's copy.
    methodology = (cfg.paths.reports_dir / "methodology-en.html").read_text(encoding="utf-8")
    assert "How well the records were linked" in methodology
    # Same analytic data, same published tables.
    # (The row accounting of the stages is the one table it cannot have: no stage ran here.)
    a = hash_tree(tiny_build.paths.results)
    b = hash_tree(cfg.paths.results)
    assert "methodology_row_accounting.parquet" in a
    assert {
        k: v
        for k, v in a.items()
        if k.endswith(".parquet")
        and k.removeprefix("disclosure/") != "methodology_row_accounting.parquet"
    } == {k: v for k, v in b.items() if k.endswith(".parquet")}


def test_small_board_report_explains_suppression(tiny_build):
    """A board with too few children in care gets a report that says so, never an empty page."""
    root = tiny_build.paths.reports_dir
    explained = [
        p
        for p in root.glob("board-*-en.html")
        if "Too few children and youth in care" in p.read_text(encoding="utf-8")
    ]
    assert explained, "at tiny scale some boards have too few children in care"
    for p in explained:
        page = p.read_text(encoding="utf-8")
        assert "<table" in page and ">c<" in page


def _paths(p: Path) -> list[str]:
    return sorted(x.relative_to(p).as_posix() for x in p.rglob("*") if x.is_file())


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_youth_summary_reads_at_grade_6_or_lower(tiny_build, lang):
    from analysis.reports import sections
    from analysis.reports.readability import check_grade
    from analysis.reports.report import Report

    results = sections.open_results(tiny_build)
    r = Report("youth", "youth", lang, title="youth.title")
    sections.youth_summary(r, results, tiny_build.school_years[-1])
    prose = r.prose()
    assert len(prose) >= 8
    got = check_grade(prose, lang)
    assert got.grade <= 6
    text = " ".join(prose)
    assert "1-800-668-6868" in text  # where to get help
    # Acronyms are explained where they are used.
    for acronym in ("CAS", "EQAO") if lang == "en" else ("SAE", "OQRE"):
        assert acronym in text


def test_french_reports_hold_no_fixed_english_sentence(tiny_build):
    from test_i18n import english_fragments, visible_text

    frags = english_fragments()
    pages = sorted(tiny_build.paths.reports_dir.glob("*-fr.html"))
    assert any(p.name == "index-fr.html" for p in pages)
    assert len(pages) >= 12 + 2
    leaks = {}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        # The French index lists the English reports under their own (English) titles, marked
        # lang="en-CA"; only text in the page's own language counts.
        # (and a source cited in English, marked the same way).
        html = re.sub(r'<(a|span) [^>]*lang="en-CA"[^>]*>.*?</\1>', " ", html, flags=re.S)
        text = visible_text(html)
        found = [f for f in frags if f in text]
        if found:
            leaks[page.name] = found[:3]
    assert leaks == {}
