"""Disclosure control: primary/secondary suppression, LP verification, release consistency."""

from __future__ import annotations

import itertools
import time

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.config import Privacy
from analysis.disclosure import DisclosureError, Release
from analysis.disclosure.lp import TableLP
from analysis.disclosure.system import margin_groups

PRIV = Privacy(min_cell=10, protection_width=5)


def two_way(vals: dict[tuple[str, str], int], num: dict[tuple[str, str], int] | None = None):
    """Long-form table with row, column and grand totals."""
    rows_l = sorted({r for r, _ in vals})
    cols_l = sorted({c for _, c in vals})
    out = []
    for r, c in itertools.product([*rows_l, "Total"], [*cols_l, "Total"]):
        cells = [(rr, cc) for (rr, cc) in vals if r in (rr, "Total") and c in (cc, "Total")]
        n = sum(vals[k] for k in cells)
        y = sum(num[k] for k in cells) if num else 0
        out.append((r, c, n, y))
    df = pl.DataFrame(out, schema=["r", "c", "n", "y"], orient="row")
    return df.with_columns(rate=pl.when(pl.col("n") > 0).then(pl.col("y") / pl.col("n")))


def attack(prot, original, dims=("r", "c"), count="n"):
    """Recompute, from the published symbols, the intervals an attacker gets.

    Suppressed cells are free variables (>= 0); published ones fixed; margins additive (the true
    values are passed only so the solver knows the margins add up, never as bounds).
    """
    df = prot.df
    keys = df.select(dims).rows()
    counts = original[count].to_numpy().astype(float)
    supp = (df[f"{count}__symbol"] == "c").to_numpy()
    prob = TableLP(counts, None, margin_groups(keys, dims, "Total"))
    # the attacker does not know the true values of suppressed cells; bounds are free there
    return prob.intervals(supp, supp)


def test_small_cell_suppressed_and_rectangle_protects_it():
    df = two_way(
        {
            ("a", "x"): 3,
            ("a", "y"): 40,
            ("b", "x"): 50,
            ("b", "y"): 60,
            ("c", "x"): 20,
            ("c", "y"): 25,
        }
    )
    prot = Release(PRIV).protect("t", df, ("r", "c"), "n", stats=("rate",))
    out = prot.df
    ax = out.filter((pl.col("r") == "a") & (pl.col("c") == "x"))
    assert ax["n"][0] is None and ax["n__symbol"][0] == "c" and ax["rate__symbol"][0] == "c"
    # no published count below the threshold (zeros aside)
    pub = out.filter(pl.col("n__symbol") == "")["n"]
    assert ((pub == 0) | (pub >= PRIV.min_cell)).all()
    # secondary suppression happened: one suppressed cell in a row is recoverable from the total
    assert (out["n__symbol"] == "c").sum() >= 4
    for iv in attack(prot, df):
        assert iv.width >= PRIV.protection_width


def test_the_cheapest_sufficient_complement_is_hidden_not_the_margin():
    # two small groups sum to 4 (3 + 1), Ontario minus the two large groups: hiding one large group
    # protects them, and so would hiding the total (without bound); the total stays printed
    df = pl.DataFrame({"g": ["SG1", "SG2", "SG3", "SG4", "Total"], "n": [3, 1, 40, 50, 94]})
    prot = Release(PRIV).protect("t", df, ("g",), "n")
    sym = dict(zip(prot.df["g"], prot.df["n__symbol"], strict=True))
    assert sym == {"SG1": "c", "SG2": "c", "SG3": "c", "SG4": "", "Total": ""}, sym
    keys = df.select("g").rows()
    counts = df["n"].to_numpy().astype(float)
    supp = (prot.df["n__symbol"] == "c").to_numpy()
    for iv in TableLP(counts, None, margin_groups(keys, ("g",), "Total")).intervals(supp, supp):
        assert iv.width >= PRIV.protection_width


def test_numerator_rule_keeps_count_hides_rate():
    df = two_way(
        {("a", "x"): 30, ("a", "y"): 40, ("b", "x"): 50, ("b", "y"): 60},
        {("a", "x"): 28, ("a", "y"): 20, ("b", "x"): 25, ("b", "y"): 30},
    )
    rel = Release(PRIV)
    prot = rel.protect("t", df, ("r", "c"), "n", numerator="y", stats=("rate",))
    ax = prot.df.filter((pl.col("r") == "a") & (pl.col("c") == "x"))
    assert ax["n"][0] == 30 and ax["y__symbol"][0] == "c" and ax["rate"][0] is None
    audit = rel.audit()
    assert audit["passed"]
    values = {c["value"] for c in audit["tables"][0]["suppressed"]}
    assert {"numerator", "non_outcome"} <= values
    for c in audit["tables"][0]["suppressed"]:
        assert c["width"] is None or c["width"] >= PRIV.protection_width


def test_zero_rule_publishes_zero_with_z_stats():
    df = two_way(
        {("a", "x"): 0, ("a", "y"): 40, ("b", "x"): 50, ("b", "y"): 60},
        {("a", "x"): 0, ("a", "y"): 20, ("b", "x"): 25, ("b", "y"): 30},
    )
    prot = Release(PRIV).protect("t", df, ("r", "c"), "n", numerator="y", stats=("rate",))
    ax = prot.df.filter((pl.col("r") == "a") & (pl.col("c") == "x"))
    assert ax["n"][0] == 0 and ax["n__symbol"][0] == "" and ax["rate__symbol"][0] == "z"


def test_missing_stat_is_x():
    df = two_way({("a", "x"): 30, ("a", "y"): 40}).with_columns(
        mean=pl.when(pl.col("c") == "y").then(None).otherwise(pl.lit(1.5))
    )
    prot = Release(PRIV).protect("t", df, ("r", "c"), "n", stats=("mean",))
    assert set(prot.df.filter(pl.col("c") == "y")["mean__symbol"]) == {"x"}


def test_attackable_table_fails_the_lp_check():
    # a single small cell with its row and column totals published: exactly recoverable
    df = two_way({("a", "x"): 3, ("a", "y"): 40, ("b", "x"): 50, ("b", "y"): 60})
    keys = df.select("r", "c").rows()
    counts = df["n"].to_numpy().astype(float)
    supp = np.array([k == ("a", "x") for k in keys])
    ivs = TableLP(counts, None, margin_groups(keys, ("r", "c"), "Total")).intervals(supp, supp)
    assert ivs[0].low == pytest.approx(3) and ivs[0].width < PRIV.protection_width


def test_unpublished_remainder_of_a_margin_is_protected():
    # total 105 but members add to 100: 5 people are in no published category
    df = pl.DataFrame({"g": ["a", "b", "Total"], "n": [40, 60, 105]})
    rel = Release(PRIV)
    prot = rel.protect("t", df, ("g",), "n")
    assert (prot.df["n__symbol"] == "c").any()
    assert rel.audit()["tables"][0]["lp_check_passed"]


def test_consistency_same_cell_suppressed_everywhere():
    rel = Release(PRIV)
    a = pl.DataFrame({"region": ["East", "North", "Toronto", "Total"], "n": [50, 4, 60, 114]})
    b = pl.DataFrame(
        {"region": ["East", "North", "Toronto", "Central", "Total"], "n": [50, 4, 60, 70, 184]}
    )
    rel.protect("a", a, ("region",), "n", universe="students_2018")
    rel.protect("b", b, ("region",), "n", universe="students_2018")
    tables = rel.finalise()
    for t in tables.values():
        north = t.df.filter(pl.col("region") == "North")
        assert north["n__symbol"][0] == "c"
    assert not rel.inconsistencies()


def test_two_tables_differing_by_one_child_fail_the_release_check():
    rel = Release(PRIV)
    a = pl.DataFrame({"region": ["East", "Toronto", "Total"], "n": [50, 60, 110]})
    b = pl.DataFrame({"region": ["East", "Toronto", "Total"], "n": [50, 59, 109]})
    rel.protect("all_students", a, ("region",), "n", universe="enrolled")
    rel.protect("assessed", b, ("region",), "n", universe="assessed")
    found = rel.differencing()
    assert found and min(f["difference"] for f in found) == 1
    assert not rel.audit()["passed"]
    with pytest.raises(DisclosureError, match="differencing"):
        rel.check()


def test_counts_of_different_units_are_not_differenced():
    """Case closings and youth answering a survey, by society: close counts of two kinds of unit
    reveal nobody (their difference counts no one), so they pass; two counts of people fail."""
    from analysis.disclosure import Structure

    closings = pl.DataFrame({"society": ["S1", "S2", "Total"], "n": [50, 61, 111]})
    youth = pl.DataFrame({"society": ["S1", "S2", "Total"], "n": [50, 60, 110]})
    units = Structure(units={"closings": "case_closings"})
    rel = Release(PRIV, units)
    rel.protect("ind2", closings, ("society",), "n", universe="closings")
    rel.protect("ind5", youth, ("society",), "n", universe="youth")
    assert rel.differencing() == []
    rel.check()
    both_people = Release(PRIV, Structure())
    both_people.protect("ind2", closings, ("society",), "n", universe="closings")
    both_people.protect("ind5", youth, ("society",), "n", universe="youth")
    assert both_people.differencing()


def test_nested_cell_differencing_across_tables():
    rel = Release(PRIV)
    rel.protect("by_year", pl.DataFrame({"year": ["2018"], "n": [105]}), ("year",), "n")
    fine = pl.DataFrame({"year": ["2018"], "region": ["Toronto"], "n": [100]})
    rel.protect("by_region", fine, ("year", "region"), "n")
    assert rel.differencing()


def test_rounding_to_base():
    df = two_way({("a", "x"): 31, ("a", "y"): 42, ("b", "x"): 53, ("b", "y"): 64})
    prot = Release(Privacy(round_base=5)).protect("t", df, ("r", "c"), "n")
    assert (prot.df["n"] % 5 == 0).all()


def test_bad_input_names_table_and_column():
    df = pl.DataFrame({"g": ["a", "a"], "n": [10, 20]})
    with pytest.raises(DisclosureError, match="table t: 2 rows repeat"):
        Release(PRIV).protect("t", df, ("g",), "n")
    df = pl.DataFrame({"g": ["a", "b"], "n": [10, -1]})
    with pytest.raises(DisclosureError, match="column n: 1 rows"):
        Release(PRIV).protect("t", df, ("g",), "n")


def test_audit_file(tmp_path):
    rel = Release(PRIV)
    rel.protect(
        "t",
        two_way({("a", "x"): 3, ("a", "y"): 40, ("b", "x"): 50, ("b", "y"): 60}),
        ("r", "c"),
        "n",
    )
    path = rel.write_audit(tmp_path / "audit.json")
    text = path.read_text()
    assert '"table": "t"' in text and "primary: count below 10" in text and "interval" in text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_rows=st.integers(2, 4),
    n_cols=st.integers(2, 4),
    data=st.data(),
)
def test_property_every_suppressed_cell_is_protected(n_rows, n_cols, data):
    cells = st.one_of(st.integers(0, 12), st.integers(10, 200))
    vals = {(f"r{i}", f"c{j}"): data.draw(cells) for i in range(n_rows) for j in range(n_cols)}
    df = two_way(vals)
    prot = Release(PRIV).protect("t", df, ("r", "c"), "n")
    pub = prot.df.filter(pl.col("n__symbol") == "")["n"]
    assert ((pub == 0) | (pub >= PRIV.min_cell)).all()
    for iv in attack(prot, df):
        assert iv.width >= PRIV.protection_width - 1e-6


def long_table(levels, interior, num=None, extra=None):
    """Every cell and margin of an n-way table (``levels`` per dim), as keys, counts, numerators.

    ``extra`` adds people to chosen margins (a margin larger than the sum of its members).
    """
    keys, counts, nums = [], [], []
    for k in itertools.product(*[[*lv, "Total"] for lv in levels]):
        cells = [c for c in interior if all(a in (b, "Total") for a, b in zip(k, c, strict=True))]
        keys.append(k)
        counts.append(sum(interior[c] for c in cells) + (extra or {}).get(k, 0))
        nums.append(sum(num[c] for c in cells) if num else 0)
    return keys, np.array(counts, dtype=float), np.array(nums, dtype=float)


@st.composite
def lp_systems(draw):
    """A random n-way table with margins (some with unpublished remainders), optional
    numerators, and a random suppression pattern (cells and margins)."""
    nd = draw(st.integers(1, 3))
    levels = [[f"v{i}" for i in range(draw(st.integers(2, 3)))] for _ in range(nd)]
    cells = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 120))
    interior = {k: draw(cells) for k in itertools.product(*levels)}
    num = {k: draw(st.integers(0, v)) for k, v in interior.items()}
    has_num = draw(st.booleans())
    keys0 = list(itertools.product(*[[*lv, "Total"] for lv in levels]))
    grand = keys0[-1]
    extra = {grand: draw(st.integers(0, 4))}
    keys, counts, nums = long_table(levels, interior, num if has_num else None, extra)
    count_supp = np.array(draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys))))
    more = np.array(draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys))))
    dims = tuple(f"d{i}" for i in range(nd))
    prob = TableLP(counts, nums if has_num else None, margin_groups(keys, dims, "Total"))
    return prob, count_supp, count_supp | more


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_systems())
def test_property_components_give_the_whole_table_intervals(system):
    """Solving each value over its own component equals two LPs over the whole table."""
    prob, count_supp, num_supp = system
    by_parts = prob.intervals(count_supp, num_supp)
    whole = prob.intervals_full(count_supp, num_supp)
    assert [(i.cell, i.measure) for i in by_parts] == [(i.cell, i.measure) for i in whole]
    for a, b in zip(by_parts, whole, strict=True):
        assert a.low == pytest.approx(b.low, abs=1e-6)
        assert a.high == pytest.approx(b.high, abs=1e-6) or a.high == b.high == np.inf
    # and again from the cache, asking for one value at a time
    for b in whole:
        (a,) = prob.intervals(count_supp, num_supp, targets=[(b.cell, b.measure)])
        assert a.low == pytest.approx(b.low, abs=1e-6)
        assert a.high == pytest.approx(b.high, abs=1e-6) or a.high == b.high == np.inf


def test_inconsistent_margins_fail_like_the_whole_table_lp():
    # a published total smaller than one published member: no table satisfies it
    keys = [("a",), ("b",), ("Total",)]
    counts = np.array([40.0, 3.0, 30.0])
    prob = TableLP(counts, None, margin_groups(keys, ("g",), "Total"))
    supp = np.array([False, True, False])
    for solve in (prob.intervals, prob.intervals_full):
        with pytest.raises(DisclosureError, match="inconsistent|could not solve"):
            solve(supp, supp)


def test_value_in_no_constraint_with_other_unknowns_needs_no_lp():
    # no margin: a suppressed cell is unbounded above, whatever else is published
    keys = [("a",), ("b",), ("c",)]
    prob = TableLP(np.array([3.0, 40.0, 50.0]), None, margin_groups(keys, ("g",), "Total"))
    supp = np.array([True, False, False])
    (iv,) = prob.intervals(supp, supp)
    assert (iv.low, iv.high) == (0.0, np.inf) and prob.lp_solves == 0


def test_attackable_cell_in_a_larger_table_fails_the_lp_check():
    # 3 x 3 x 2 table, every margin published, one small interior cell suppressed: recoverable
    levels = [["a", "b", "c"], ["x", "y", "z"], ["m", "f"]]
    interior = {k: 20 + i for i, k in enumerate(itertools.product(*levels))}
    interior[("b", "y", "f")] = 3
    keys, counts, _ = long_table(levels, interior)
    supp = np.array([k == ("b", "y", "f") for k in keys])
    prob = TableLP(counts, None, margin_groups(keys, ("r", "c", "s"), "Total"))
    (iv,) = prob.intervals(supp, supp)
    assert iv.low == pytest.approx(3) and iv.high == pytest.approx(3)
    assert iv.width < PRIV.protection_width
    # suppressing a rectangle's corners is not enough when the rest of the slice is published
    # in the third dim; protect() must find complements until every interval is wide
    df = pl.DataFrame(
        [(*k, int(v)) for k, v in zip(keys, counts, strict=True)],
        schema=["r", "c", "s", "n"],
        orient="row",
    )
    rel = Release(PRIV)
    prot = rel.protect("t", df, ("r", "c", "s"), "n")
    assert rel.audit()["tables"][0]["lp_check_passed"]
    supp2 = (prot.df["n__symbol"] == "c").to_numpy()
    for iv in TableLP(counts, None, margin_groups(keys, ("r", "c", "s"), "Total")).intervals_full(
        supp2, supp2
    ):
        assert iv.width >= PRIV.protection_width - 1e-6


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_three_way_with_numerators_every_suppressed_value_is_protected(data):
    """Random 3-way tables with numerators: after protect(), every suppressed count, numerator
    and non-outcome count is at least the protection width wide, checked on the whole table."""
    levels = [[f"v{i}" for i in range(data.draw(st.integers(2, 3)))] for _ in range(3)]
    cells = st.one_of(st.integers(0, 12), st.integers(10, 150))
    interior = {k: data.draw(cells) for k in itertools.product(*levels)}
    num = {k: data.draw(st.integers(0, v)) for k, v in interior.items()}
    keys, counts, nums = long_table(levels, interior, num)
    df = pl.DataFrame(
        [(*k, int(n), int(y)) for k, n, y in zip(keys, counts, nums, strict=True)],
        schema=["a", "b", "c", "n", "y"],
        orient="row",
    )
    rel = Release(PRIV)
    prot = rel.protect("t", df, ("a", "b", "c"), "n", numerator="y")
    pub = prot.df.filter(pl.col("n__symbol") == "")["n"]
    assert ((pub == 0) | (pub >= PRIV.min_cell)).all()
    cs = (prot.df["n__symbol"] == "c").to_numpy()
    ns = (prot.df["y__symbol"] == "c").to_numpy()
    prob = TableLP(counts, nums, margin_groups(keys, ("a", "b", "c"), "Total"))
    for iv in prob.intervals_full(cs, ns):
        assert iv.width >= PRIV.protection_width - 1e-6


def bench_table(seed: int = 0):
    """A 2000-cell table with margins (9 x 9 x 19 interior cells, every margin; 10% small)."""
    rng = np.random.default_rng(seed)
    levels = [
        [f"a{i}" for i in range(9)],
        [f"b{i}" for i in range(9)],
        [f"c{i}" for i in range(19)],
    ]
    interior = {
        k: int(rng.choice([rng.integers(0, 10), rng.integers(10, 400)], p=[0.1, 0.9]))
        for k in itertools.product(*levels)
    }
    num = {k: int(rng.integers(0, v + 1)) for k, v in interior.items()}
    keys, counts, nums = long_table(levels, interior, num)
    df = pl.DataFrame(
        [(*k, int(n), int(y)) for k, n, y in zip(keys, counts, nums, strict=True)],
        schema=["a", "b", "c", "n", "y"],
        orient="row",
    )
    return df.with_columns(rate=pl.when(pl.col("n") > 0).then(pl.col("y") / pl.col("n")))


@pytest.mark.bench
@pytest.mark.parametrize("numerator", [None, "y"])
def test_bench_protect_2000_cells(numerator):
    """Prints protect() time for a 2000-cell, three-way table with every margin."""
    df = bench_table()
    assert df.height == 2000
    rel = Release(PRIV)
    t0 = time.perf_counter()
    rel.protect("bench", df, ("a", "b", "c"), "n", numerator=numerator, stats=("rate",))
    seconds = time.perf_counter() - t0
    table = rel.audit()["tables"][0]
    prob = rel._problems["bench"][2]
    print(
        f"\nprotect 2000 cells (numerator={numerator}): {seconds:.2f} s, "
        f"{table['suppressed_counts']} counts and {table['suppressed_numerators']} numerators "
        f"suppressed, {len(table['suppressed'])} intervals, {prob.lp_solves} LPs"
    )
    assert table["lp_check_passed"]
