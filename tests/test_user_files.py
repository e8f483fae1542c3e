"""Never destroy input: no stage deletes or rewrites a file it did not write.

- ``analysis.io.atomic_dir`` (every stage writes through it) keeps a user's files found in a
  folder it replaces (same bytes, same inode, same times), removes only the build's own files
  it no longer writes, and refuses, before anything is replaced, to overwrite a file the build
  did not write;
- through the real CLI, an extract passed with ``--sources`` inside any folder the build writes
  (``sources/``, ``quarantine/``... or the reports folder) is refused with exit 2, and nothing
  changes (the case of the issue: the extract and a notes file in ``DATA/sources``);
- a user's file placed in every folder the build writes survives a synthetic build and a build
  from an extract, and the methodology page and the manifest count what the reading normalised.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from analysis.cli import app
from analysis.domain.schemas import SOURCE_NAMES
from analysis.io import ForeignFileError, atomic_dir, hash_tree

runner = CliRunner()
ENV = {"COLUMNS": "2000"}


def _invoke(*args: str):
    return runner.invoke(app, list(args), env=ENV, catch_exceptions=False)


def _error_text(res) -> str:
    text = res.stderr
    assert "error: " in text, text
    return text[text.index("error: ") :].rstrip()


def _stat(p: Path) -> tuple[bytes, int, int]:
    st = p.stat()
    return p.read_bytes(), st.st_ino, st.st_mtime_ns


# --------------------------------------------------------------------------------------------
# atomic_dir
# --------------------------------------------------------------------------------------------


def _swap(target: Path, files: dict[str, str], **kw) -> None:
    with atomic_dir(target, **kw) as tmp:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)


def test_a_users_file_survives_every_swap(tmp_path: Path) -> None:
    target = tmp_path / "data" / "linkage"
    _swap(target, {"links.parquet": "1", "old.json": "x"})
    notes = target / "notes" / "mine.txt"
    notes.parent.mkdir()
    notes.write_text("my notes")
    kept = _stat(notes)
    for round_ in ("2", "3"):
        _swap(target, {"links.parquet": round_})
        assert (target / "links.parquet").read_text() == round_
        assert not (target / "old.json").exists()  # the build's own file, no longer written
        assert _stat(notes) == kept
    assert [p.name for p in tmp_path.joinpath("data").iterdir() if "staging" in p.name] == []


def test_a_file_the_build_did_not_write_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "data" / "sources"
    _swap(target, {"cpin_onlac.parquet": "generated", "codebook.md": "c"})
    mine = target / "cpin_onlac.parquet"
    mine.write_text("the user's own extract")  # replaced by the user since the build wrote it
    before = hash_tree(target)
    with pytest.raises(ForeignFileError) as exc:
        _swap(target, {"cpin_onlac.parquet": "generated again", "codebook.md": "c"})
    assert str(exc.value) == (
        f"{target}: 1 file(s) not written by the build (or changed since) would be replaced "
        "(cpin_onlac.parquet); "
        "the build manages this folder: move them out of it (an extract of your own goes in a "
        "folder of its own, passed with --sources)"
    )
    assert hash_tree(target) == before
    assert [p.name for p in target.parent.iterdir() if "staging" in p.name] == []


def test_a_users_file_with_the_bytes_the_stage_writes_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "data" / "reports"
    _swap(target, {"index.html": "1"})
    bench = target / "bench" / "tiny.json"
    bench.parent.mkdir()
    bench.write_text("{}")  # written by another command, copied back by the stage
    kept = _stat(bench)
    _swap(target, {"index.html": "2", "bench/tiny.json": "{}"})
    assert _stat(bench) == kept
    with pytest.raises(ForeignFileError):  # still the user's: different bytes are refused
        _swap(target, {"index.html": "3", "bench/tiny.json": "{ }"})


def test_a_copied_data_folder_is_still_the_builds(tmp_path: Path) -> None:
    _swap(tmp_path / "a" / "data" / "linkage", {"links.parquet": "1"})
    # copied without the files' times: recognised by their bytes
    shutil.copytree(tmp_path / "a", tmp_path / "b", copy_function=shutil.copy)
    target = tmp_path / "b" / "data" / "linkage"
    os.utime(target / "links.parquet", ns=(1, 1))
    _swap(target, {"links.parquet": "2"})
    assert (target / "links.parquet").read_text() == "2"


def test_a_folder_from_before_records_keeps_files_the_stage_does_not_write(
    tmp_path: Path,
) -> None:
    target = tmp_path / "data" / "results"
    target.mkdir(parents=True)
    (target / "tables.json").write_text("old")  # written by an earlier version of the build
    (target / "notes.txt").write_text("mine")
    _swap(target, {"tables.json": "new"})
    assert (target / "tables.json").read_text() == "new"
    assert (target / "notes.txt").read_text() == "mine"


def test_carry_keeps_the_builds_other_files(tmp_path: Path) -> None:
    target = tmp_path / "data" / "sources"
    _swap(target, {"onsis_enrolment.parquet": "1", "codebook.md": "c"})
    _swap(target, {"onsis_enrolment.parquet": "2"}, carry=True)
    assert (target / "codebook.md").read_text() == "c"
    _swap(target, {"onsis_enrolment.parquet": "3"})  # without carry the stale file goes
    assert not (target / "codebook.md").exists()


def test_a_users_folder_where_the_stage_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "data" / "analytic"
    _swap(target, {"eqao.parquet": "1"})
    (target / "eqao.parquet").unlink()
    (target / "eqao.parquet").mkdir()
    (target / "eqao.parquet" / "x").write_text("mine")
    with pytest.raises(ForeignFileError):
        _swap(target, {"eqao.parquet": "2"})
    assert (target / "eqao.parquet" / "x").read_text() == "mine"


def test_a_private_folder_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "k"
    _swap(target, {"entry.json": "1"}, record=False)
    (target / "stray").write_text("x")
    _swap(target, {"entry.json": "2"}, record=False)
    assert sorted(p.name for p in target.iterdir()) == ["entry.json"]


# --------------------------------------------------------------------------------------------
# through the CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def csv_extract(tiny_generated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny province as a CSV extract that needs a normalisation (NULL for missing values)."""
    d = tmp_path_factory.mktemp("csv_extract")
    for name in SOURCE_NAMES:
        df = pl.read_parquet(tiny_generated.paths.sources / f"{name}.parquet")
        (d / f"{name}.csv").write_text(df.write_csv(null_value="NULL"))
    return d


def _snapshot(root: Path) -> dict[str, str]:
    return {f"{t}/{k}": v for t in ("data", "reports") for k, v in hash_tree(root / t).items()}


MANAGED = (
    "data/sources",
    "data/quarantine",
    "data/reference",
    "data/truth",
    "data/linkage",
    "data/analytic",
    "data/results",
    "data/.state",
    "data/.render-cache",
    "reports",
)


@pytest.mark.parametrize("command", ["build", "validate"])
@pytest.mark.parametrize("folder", MANAGED)
def test_an_extract_inside_a_folder_the_build_writes_is_refused(
    folder: str, command: str, csv_extract: Path, tmp_path: Path
) -> None:
    root = tmp_path
    args = (
        "--scale",
        "tiny",
        "--data-dir",
        str(root / "data"),
        "--reports-dir",
        str(root / "reports"),
    )
    res = _invoke("validate", "--sources", str(csv_extract), *args)  # a previous build
    assert res.exit_code == 0, res.output
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "index.html").write_text("previous build\n")
    # the case of the issue: the extract and a notes file in the data folder's own sources/
    inside = root / folder if folder == "data/sources" else root / folder / "my-extract"
    inside.mkdir(parents=True, exist_ok=True)
    for f in csv_extract.iterdir():
        shutil.copy(f, inside)
    (inside / "notes.txt").write_text("where this extract came from\n")
    before = _snapshot(root)
    res = _invoke(command, "--sources", str(inside), *args)
    assert res.exit_code == 2, res.output
    managed = root / folder
    assert _error_text(res) == (
        f"error: {inside}: --sources must not be inside {managed}, a folder the build writes "
        "(its files are replaced on every run): copy the extract to a folder of its own and "
        "pass that folder with --sources"
    )
    assert _snapshot(root) == before


def test_a_replaced_generated_source_is_not_overwritten(tmp_path: Path) -> None:
    args = (
        "--scale",
        "tiny",
        "--data-dir",
        str(tmp_path / "data"),
        "--reports-dir",
        str(tmp_path / "r"),
    )
    assert _invoke("generate", *args).exit_code == 0
    mine = tmp_path / "data" / "sources" / "cpin_onlac.parquet"
    pl.read_parquet(mine).head(5).write_parquet(mine)  # the user's own version, in place
    kept = _stat(mine)
    sources = hash_tree(tmp_path / "data" / "sources")
    res = _invoke("generate", *args)
    assert res.exit_code == 2
    assert _error_text(res) == (
        f"error: {mine.parent}: 1 file(s) not written by the build (or changed since) would be replaced "
        "(cpin_onlac.parquet); the build manages this folder: move them out of it (an extract "
        "of your own goes in a folder of its own, passed with --sources)"
    )
    assert _stat(mine) == kept
    assert hash_tree(tmp_path / "data" / "sources") == sources


@pytest.mark.slow
def test_users_files_survive_a_synthetic_build_and_a_build_from_an_extract(
    csv_extract: Path, tmp_path: Path
) -> None:
    root = tmp_path
    only = root / "only.yaml"
    only.write_text(
        yaml.safe_dump({"reports": {"only": ["youth-en"]}, "privacy": {"audit_engines": ["highs"]}})
    )
    args = ("--scale", "tiny", "--config", str(only))
    args += ("--data-dir", str(root / "data"), "--reports-dir", str(root / "reports"))
    notes = {}
    for folder in ("sources", "truth", "reference", "quarantine", "linkage", "analytic", "results"):
        notes[folder] = root / "data" / folder / "NOTES.md"
    notes["reports"] = root / "reports" / "README.md"  # like the repository's own reports/README.md
    for f in notes.values():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"a user's file in {f.parent.name}\n")
    kept = {k: _stat(f) for k, f in notes.items()}

    for command in ("generate", "validate", "link", "deidentify"):  # synthetic data
        res = _invoke(command, *args)
        assert res.exit_code == 0, res.output
    assert {k: _stat(f) for k, f in notes.items()} == kept
    assert (root / "data/sources/codebook.md").is_file()

    res = _invoke("build", "--sources", str(csv_extract), *args)  # every stage from an extract
    assert res.exit_code == 0, res.output
    assert {k: _stat(f) for k, f in notes.items()} == kept
    assert not (root / "data/sources/codebook.md").exists()  # the build's own, of synthetic data
    assert sorted(os.listdir(csv_extract)) == sorted(f"{n}.csv" for n in SOURCE_NAMES)

    # what the reading normalised is counted in the manifest and on the methodology page
    manifest = json.loads((root / "reports/manifest.json").read_text())
    norm = manifest["validation"]["normalisations"]
    assert manifest["validation"]["reading"] == "normalise"
    assert {(n["file"], n["column"], n["normalisation"]) for n in norm} >= {
        ("cpin_persons.csv", "oen", "missing_value"),
        ("cpin_services.csv", "end_date", "missing_value"),
    }
    page = (root / "reports/methodology-en.html").read_text()
    assert "How the extract was read" in page and "Missing value written as text" in page
    fr = (root / "reports/methodology-fr.html").read_text()
    assert "Comment l’extrait a été lu" in fr
