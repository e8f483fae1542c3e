"""Random byte-level corruptions of every file of an extract, through the real CLI (hypothesis).

A small extract (about 60 rows a file, cut consistently from the tiny province, with its own
``boards`` and ``societies``) is written once as CSV and once as parquet. Each example copies
one of them, corrupts one file with a few byte edits (bytes flipped, replaced by a delimiter, a
quote, a NUL, a line break or a byte that is not UTF-8, spans deleted, repeated or inserted,
the file cut short) and runs ``analysis validate --sources`` over a data folder holding a
previous build. Whatever the bytes:

- the exit status is 0 or 2, and never an exception (a traceback);
- status 2 comes with the documented error block (``error: FILE...`` then one line per broken
  rule) and status 0 with no error;
- no identifier from the extract appears in anything printed;
- nothing downstream of validation changes (status 2: nothing at all changes).

At least 500 corruptions run in the default test run (the number is asserted).
"""

from __future__ import annotations

import re
import shutil
import string
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analysis.cli import app
from analysis.domain.schemas import REFERENCE_NAMES, SOURCE_NAMES
from analysis.io import hash_tree

runner = CliRunner()
ENV = {"COLUMNS": "2000"}
EXAMPLES = 520
TABLES = (*SOURCE_NAMES, *REFERENCE_NAMES)
DOWNSTREAM = ("data/linkage", "data/analytic", "data/results", "reports")
# the documented error block: a head line naming the file(s), then one line per broken rule
_HEAD = re.compile(r"^error: (\S.*: \d+ rule\(s\) broken|\d+ source files have problems)$")
_FILE = re.compile(r"^\S.*: \d+ rule\(s\) broken$")
_RULE = re.compile(
    r"^  - (table|column '[^'\n]*'|columns '[^'\n]*'): rule '.+' broken by (the file|\d+ row\(s\))$"
)


def _small(tiny_sources: Path, tiny_reference: Path) -> dict[str, pl.DataFrame]:
    """About 60 rows a file, every reference between them kept (nothing quarantined)."""
    persons = pl.read_parquet(tiny_sources / "cpin_persons.parquet").head(40)
    ids = persons["cw_record_id"].implode()
    services = pl.read_parquet(tiny_sources / "cpin_services.parquet").filter(
        pl.col("cw_record_id").is_in(ids)
    )
    placements = pl.read_parquet(tiny_sources / "cpin_placements.parquet").filter(
        pl.col("episode_id").is_in(services["episode_id"].implode())
    )
    out = {
        "onsis_enrolment": pl.read_parquet(tiny_sources / "onsis_enrolment.parquet").head(60),
        "eqao_results": pl.read_parquet(tiny_sources / "eqao_results.parquet").head(60),
        "cpin_persons": persons,
        "cpin_services": services,
        "cpin_placements": placements,
        "cpin_cases": pl.read_parquet(tiny_sources / "cpin_cases.parquet").head(60),
        "cpin_onlac": pl.read_parquet(tiny_sources / "cpin_onlac.parquet").filter(
            pl.col("cw_record_id").is_in(ids)
        ),
    }
    for name in REFERENCE_NAMES:
        out[name] = pl.read_parquet(tiny_reference / f"{name}.parquet")
    assert all(df.height for df in out.values())
    return out


@pytest.fixture(scope="session")
def fuzz_base(tiny_generated, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small extract as CSV and as parquet, a previous build for each, and its identifiers."""
    root = tmp_path_factory.mktemp("fuzz")
    frames = _small(tiny_generated.paths.sources, tiny_generated.paths.reference)
    base = {}
    for fmt in ("csv", "parquet"):
        ext = root / fmt / "extract"
        ext.mkdir(parents=True)
        for name, df in frames.items():
            if fmt == "csv":
                df.write_csv(ext / f"{name}.csv")
            else:
                df.write_parquet(ext / f"{name}.parquet")
        build = root / fmt / "build"
        res = _validate(ext, build)
        assert res.exit_code == 0, res.output
        for rel in ("data/linkage/links.parquet", "data/analytic/x.parquet", "reports/index.html"):
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            (build / rel).write_text(f"previous build: {rel}\n")
        base[fmt] = (ext, build)
    ids: set[str] = set()
    for name in ("onsis_enrolment", "cpin_persons"):
        df = frames[name]
        for col in ("oen", "first_name", "last_name", "postal_code"):
            ids |= {v for v in df[col].drop_nulls().to_list() if len(v) > 2}
        ids |= {str(d) for d in df["birth_date"].to_list()}
    return {"base": base, "identifiers": ids}


def _validate(extract: Path, build: Path):
    return runner.invoke(
        app,
        [
            "validate",
            "--sources",
            str(extract),
            "--scale",
            "tiny",
            "--data-dir",
            str(build / "data"),
            "--reports-dir",
            str(build / "reports"),
        ],
        env=ENV,
    )


# ------------------------------------------------------------------------------ corruptions
SPECIAL = [b"\x00", b"\r", b"\n", b",", b'"', b";", b"\t", b"\xff", b"\xc3", b" ", b"0", b"-"]
TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + ',"\r\n -./:', min_size=1, max_size=8
)
edits = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 127)),  # mostly still ASCII
    st.tuples(st.just("put"), st.floats(0, 1), st.sampled_from(SPECIAL)),
    st.tuples(st.just("insert"), st.floats(0, 1), TEXT.map(str.encode)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("cut"), st.floats(0.05, 1), st.just(0)),
)


def corrupt(data: bytes, ops: list[tuple]) -> bytes:
    """Apply byte edits, each at a fraction of the file's length."""
    b = bytearray(data)
    for kind, where, arg in ops:
        i = min(int(where * len(b)), max(len(b) - 1, 0))
        if kind == "flip" and b:
            b[i] ^= arg
        elif kind == "put" and b:
            b[i : i + 1] = arg
        elif kind == "insert":
            b[i:i] = arg
        elif kind == "delete":
            del b[i : i + arg]
        elif kind == "repeat":
            b[i:i] = b[i : i + arg]
        elif kind == "cut":
            del b[i:]
    return bytes(b)


def _downstream(build: Path) -> dict[str, str]:
    return {f"{top}/{k}": v for top in DOWNSTREAM for k, v in hash_tree(build / top).items()}


def _everything(build: Path) -> dict[str, str]:
    return {
        f"{top}/{k}": v for top in ("data", "reports") for k, v in hash_tree(build / top).items()
    }


def _check_output(res, identifiers: set[str]) -> None:
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 2), res.output
    assert "Traceback" not in res.output
    tokens = set(re.findall(r"[\w'\-]+", res.output))
    tokens |= set(re.findall(r"[A-Z]\d[A-Z] \d[A-Z]\d", res.output))
    assert not tokens & identifiers, "identifier values in the output"
    if res.exit_code == 0:
        assert "error: " not in res.stderr
        return
    text = res.stderr[res.stderr.index("error: ") :].rstrip("\n")
    lines = text.split("\n")
    assert _HEAD.match(lines[0]), lines[0]
    for line in lines[1:]:
        assert _RULE.match(line) or _FILE.match(line), line


def test_fuzzed_files_give_a_clear_error_or_pass(fuzz_base: dict) -> None:
    runs = {"n": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        fmt=st.sampled_from(["csv", "parquet"]),
        table=st.sampled_from(TABLES),
        ops=st.lists(edits, min_size=1, max_size=4),
    )
    def one(fmt: str, table: str, ops: list[tuple]) -> None:
        runs["n"] += 1
        extract, build = fuzz_base["base"][fmt]
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            shutil.copytree(extract, work / "extract")
            shutil.copytree(build, work / "build")
            f = work / "extract" / f"{table}.{fmt}"
            f.write_bytes(corrupt(f.read_bytes(), ops))
            before, down = _everything(work / "build"), _downstream(work / "build")
            res = _validate(work / "extract", work / "build")
            _check_output(res, fuzz_base["identifiers"])
            assert _downstream(work / "build") == down
            if res.exit_code == 2:
                runs["refused"] += 1
                assert _everything(work / "build") == before

    one()
    assert runs["n"] >= 500
    assert runs["refused"] > 0  # the corruptions do reach the checks
