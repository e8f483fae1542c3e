"""k-anonymity and l-diversity: measure, generalise along a hierarchy, suppress what fails.

Every function takes the quasi-identifiers ``qis``, the partition ``by`` (classes never span two
partitions, e.g. school years), and optionally a ``sensitive`` column whose distinct values are
counted in the classes holding an ``involved`` row. The work is done on the distinct row states of
:mod:`analysis.deidentify.states`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analysis.deidentify.hierarchy import Step
from analysis.deidentify.policy import SUPPRESSION_ORDER
from analysis.deidentify.states import CodedFrame, codes, row_codes


def measure_risk(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """k-anonymity and distinct l-diversity of ``df`` on the quasi-identifiers ``qis``.

    Implemented with a polars group-by (equivalence class = ``by`` + ``qis``, nulls as their own
    value): the maintained library that fits (pyCANON) works on pandas and is not a dependency;
    :func:`measure_risk_pycanon` cross-checks when it is installed.

    Returns
    -------
    dict
        ``k`` (smallest class), ``classes``, ``rows``, ``unique_share`` (share of rows alone in
        their class), ``mean_class_size``; with the threshold ``k``: ``below_k_share`` and
        ``rows_below_k``; ``l`` (fewest distinct ``sensitive`` values in a class holding any
        ``involved`` row).
    """
    return _measure(df, qis, by, sensitive, involved, k=k)


def measure_risk_pycanon(df: pl.DataFrame, qis: tuple[str, ...], sensitive: str) -> dict[str, int]:
    """The same measures with pyCANON (``anonymity.k_anonymity`` / ``l_diversity``), if installed.

    Raises
    ------
    ImportError
        When pyCANON is not installed.
    """
    from pycanon import anonymity

    pdf = df.select([*qis, sensitive]).fill_null("<null>").to_pandas()
    return {
        "k": int(anonymity.k_anonymity(pdf, list(qis))),
        "l": int(anonymity.l_diversity(pdf, list(qis), [sensitive])),
    }


def _measure(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    weight: pl.Series | np.ndarray | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """:func:`measure_risk` of ``df``, each row standing for ``weight`` rows (default 1)."""
    keys = [*by, *qis]
    w = pl.lit(1, dtype=pl.Int64) if weight is None else pl.Series("_w", weight, dtype=pl.Int64)
    rows = df.height if weight is None else int(np.sum(weight))
    if rows == 0:
        empty: dict[str, Any] = {"k": None, "l": None, "classes": 0, "rows": 0}
        if k is not None:
            empty.update(rows_below_k=0, below_k_share=0.0, unique_share=0.0)
        return empty
    g = (
        df.with_columns(w.alias("_w"))
        .group_by(keys)
        .agg(
            pl.col("_w").sum().alias("n"),
            *([pl.col(sensitive).n_unique().alias("l")] if sensitive else []),
            *([pl.col(involved).any().alias("inv")] if involved else []),
        )
    )
    n = g["n"]
    out: dict[str, Any] = {
        "rows": rows,
        "classes": g.height,
        "k": int(n.min()),  # type: ignore[arg-type]
        "quasi_identifiers": list(qis),
        "per": list(by),
        "unique_share": round(int((n == 1).sum()) / rows, 4),
        "mean_class_size": round(rows / g.height, 1),
    }
    if k is not None:
        below = int(n.filter(n < k).sum())
        out["rows_below_k"] = below
        out["below_k_share"] = round(below / rows, 4)
    if sensitive:
        gl = g.filter(pl.col("inv")) if involved else g
        out["l"] = int(gl["l"].min()) if gl.height else None  # type: ignore[arg-type]
        out["sensitive"] = sensitive
    return out


def measure_coded(
    c: CodedFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """:func:`measure_risk` of a coded frame (its live states, weighted by their rows)."""
    states, cnt = c.alive()
    return _measure(states, qis, by, sensitive, involved, cnt, k=k)


def step_values(c: CodedFrame, st: Step) -> tuple[pl.Series, np.ndarray]:
    """The value of ``st.column`` per state after step ``st``, and whether it changes that state
    (a suppression step, ``value=None``, changes every non-null value to null; a generalisation
    never touches a null)."""
    dtype = c.states.schema[st.column]
    old = c.states[st.column]
    if st.value is None:
        return pl.Series(st.column, [None] * c.states.height, dtype), old.is_not_null().to_numpy()
    new = c.states.with_columns(st.value.cast(dtype).alias("_new"))["_new"]  # broadcast
    changes = (old.is_not_null() & new.is_not_null() & (new != old).fill_null(True)).to_numpy()
    return new, changes


def _merge_into_blank(
    c: CodedFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    k: int,
    sensitive: str | None,
    involved: str | None,
    l_div: int,
) -> tuple[np.ndarray, int]:
    """The last resort of :func:`enforce_k`: rows to blank on every quasi-identifier.

    While any class is below ``k`` (or, holding an ``involved`` row, below ``l_div`` distinct
    ``sensitive`` values), the failing class with fewest rows (else, when only blank classes
    fail, the smallest class) is merged into the blank class of its partition (``by``): its
    rows, with every row of the same entity, lose all their quasi-identifiers. Ties go to the
    class seen first (in row order). Class sizes are kept as counts and updated per merge.

    Returns
    -------
    (ndarray, int)
        Boolean per row (blank it), and the number of rows in the merged classes.
    """
    keys = [*by, *qis]
    n_rows = c.n_rows
    hit = np.zeros(n_rows, dtype=bool)
    if n_rows == 0 or not c.bad_states(keys, k, sensitive, involved, l_div).any():
        return hit, 0
    cnt_s = c.counts()
    # classes numbered in the order their first row appears
    first = pl.Series(c.row_state).arg_unique().to_numpy()
    first_row = np.full(c.states.height, n_rows, dtype=np.int64)
    first_row[c.row_state[first]] = first
    code, n_code = row_codes(c.states, keys) if keys else (np.zeros(c.states.height, np.int64), 1)
    code_first = np.full(n_code, n_rows, dtype=np.int64)
    np.minimum.at(code_first, code, first_row)
    present = np.flatnonzero(code_first < n_rows)
    rank = np.full(n_code, -1, dtype=np.int64)
    rank[present[np.argsort(code_first[present], kind="stable")]] = np.arange(present.size)
    cls_of_state = rank[code]  # -1 for states without rows
    n_cls = present.size
    rep_state = np.zeros(n_cls, dtype=np.int64)
    live = np.flatnonzero(cls_of_state >= 0)
    rep_state[cls_of_state[live]] = live
    cls = c.states[rep_state].select(keys)
    is_blank = cls.select(pl.all_horizontal([pl.col(q).is_null() for q in qis])).to_series()
    # blank class of each partition (a new class where the partition has none yet)
    if by:
        parts = cls.select(by).unique(maintain_order=True).with_row_index("_p")
        part = cls.select(by).join(
            parts, on=list(by), how="left", nulls_equal=True, maintain_order="left"
        )
        part_of_cls = part["_p"].to_numpy().astype(np.int64)
    else:
        part_of_cls = np.zeros(n_cls, dtype=np.int64)
    n_part = int(part_of_cls.max()) + 1
    blank_of_part = np.full(n_part, -1, dtype=np.int64)
    blank_idx = np.flatnonzero(is_blank.to_numpy())
    blank_of_part[part_of_cls[blank_idx]] = blank_idx
    missing = np.flatnonzero(blank_of_part < 0)
    blank_of_part[missing] = n_cls + np.arange(missing.size)
    n_all = n_cls + missing.size
    blank_cls = np.zeros(n_all, dtype=bool)
    blank_cls[blank_of_part] = True
    # per class and sensitive value: row counts (a null sensitive value is a value of its own)
    if sensitive and involved:
        sc, n_sc = codes(c.states[sensitive])
        inv = c.states[involved].fill_null(False).to_numpy().astype(np.int64)
    else:
        sc, n_sc = np.zeros(c.states.height, dtype=np.int64), 1
        inv = np.zeros(c.states.height, dtype=np.int64)
    cnt = np.zeros((n_all, n_sc), dtype=np.int64)
    np.add.at(cnt, (cls_of_state[live], sc[live]), cnt_s[live])
    inv_n = np.zeros(n_all, dtype=np.int64)
    np.add.at(inv_n, cls_of_state[live], inv[live] * cnt_s[live])
    cid = cls_of_state[c.row_state]
    blank_of_row = blank_of_part[part_of_cls][cid]
    merged = 0
    order_id = np.arange(n_all)
    for _ in range(n_rows):
        n_c = cnt.sum(axis=1)
        bad = (n_c > 0) & (n_c < k)
        if sensitive and involved:
            bad |= (n_c > 0) & (inv_n > 0) & ((cnt > 0).sum(axis=1) < l_div)
        if not bad.any():
            break
        cand = np.flatnonzero((n_c > 0) & ~blank_cls)
        if cand.size == 0:
            break
        t = cand[np.lexsort((order_id[cand], n_c[cand], ~bad[cand]))[0]]
        rows = np.flatnonzero(cid == t)
        merged += rows.size
        if c.ent is not None:
            rows = np.union1d(rows[c.ent[rows] < 0], c.rows_of_entities(rows))
        rows = rows[cid[rows] != blank_of_row[rows]]
        dest = blank_of_row[rows]
        hit[rows] = True
        s_rows = c.row_state[rows]
        np.subtract.at(cnt, (cid[rows], sc[s_rows]), 1)
        np.add.at(cnt, (dest, sc[s_rows]), 1)
        np.subtract.at(inv_n, cid[rows], inv[s_rows])
        np.add.at(inv_n, dest, inv[s_rows])
        cid[rows] = dest
    return hit, merged


def _suppress_coded(
    c: CodedFrame,
    qis: tuple[str, ...],
    k: int,
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    l_div: int,
    order: tuple[str, ...],
) -> dict[str, Any]:
    """:func:`enforce_k` on a coded frame (``c`` is changed in place)."""
    keys = [*by, *qis]
    report: dict[str, Any] = {"suppressed_values": {}}
    for col in [q for q in order if q in qis]:
        bad = c.bad_states(keys, k, sensitive, involved, l_div)
        if not bad.any():
            break
        rows = c.rows_in(bad)
        if c.ent is not None:
            rows = c.rows_of_entities(rows)
        notnull = c.states[col].is_not_null().to_numpy()
        rows = rows[notnull[c.row_state[rows]]]
        report["suppressed_values"][col] = int(rows.size)
        c.move(rows, {col: pl.Series(col, [None] * c.states.height, c.states.schema[col])})
    # last resort: records blanked on every quasi-identifier form one class per partition; while
    # that class is too small, merge the smallest remaining class into it
    hit, merged = _merge_into_blank(c, qis, by, k, sensitive, involved, l_div)
    if merged:
        n = c.states.height
        c.move(
            np.flatnonzero(hit),
            {q: pl.Series(q, [None] * n, c.states.schema[q]) for q in qis if q not in by},
        )
    report["rows_merged_into_blank_class"] = merged
    bad = c.bad_states(keys, k, sensitive, involved, l_div)
    report["rows_in_classes_below_threshold"] = int(c.counts()[bad].sum())
    report["holds"] = not bool(bad.any())
    return report


def generalise_coded(
    c: CodedFrame,
    qis: tuple[str, ...],
    steps: tuple[Step, ...],
    k: int,
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    l_div: int,
    order: tuple[str, ...],
) -> dict[str, Any]:
    """:func:`generalise` on a coded frame (``c`` is changed in place)."""
    keys = [*by, *qis]
    done: list[dict[str, Any]] = []
    for st in steps:
        new, changes = step_values(c, st)
        if st.scope == "global":
            rows = c.rows_in(changes)
        else:
            rows = c.rows_in(c.bad_states(keys, k, sensitive, involved, l_div))
            if c.ent is not None:
                rows = c.rows_of_entities(rows)
            rows = rows[changes[c.row_state[rows]]]
        changed = int(rows.size)
        c.move(rows, {st.column: new})
        bad = c.bad_states(keys, k, sensitive, involved, l_div)
        cnt = c.counts()
        done.append(
            {
                "step": st.name,
                "column": st.column,
                "scope": st.scope,
                "values_changed": changed,
                "k_after": measure_coded(c, qis, by)["k"] or 0 if c.n_rows else None,
                "rows_below_threshold_after": int(cnt[bad].sum()),
            }
        )
    sup = _suppress_coded(c, qis, k, by, sensitive, involved, l_div, order)
    return {"steps": done, "suppression": sup, "holds": sup["holds"]}


def enforce_k(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    k: int,
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    l_div: int = 1,
    order: tuple[str, ...] = SUPPRESSION_ORDER,
    entity: str | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generalise ``df`` until every class has ``k`` rows (and ``l_div`` distinct sensitive values).

    Local suppression: the rows in failing classes have their quasi-identifiers blanked one at a
    time in ``order``. With ``entity`` (e.g. ``study_id``), a value blanked in one row of an
    entity is blanked in all its rows, so the entity's other rows cannot restore it.

    Returns
    -------
    (DataFrame, report)
        Report: per quasi-identifier the number of rows blanked, and whether the thresholds hold.
    """
    c = code_frame(df, qis, by, sensitive, involved, entity=entity)
    report = _suppress_coded(c, qis, k, by, sensitive, involved, l_div, order)
    return df.with_columns(c.column(q) for q in qis if q not in by), report


def generalise(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    steps: tuple[Step, ...],
    k: int,
    by: tuple[str, ...] = (),
    sensitive: str | None = None,
    involved: str | None = None,
    l_div: int = 1,
    order: tuple[str, ...] = SUPPRESSION_ORDER,
    entity: str | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generalise along ``steps`` (in order), then locally suppress what still fails.

    Each step is applied, then the classes are measured again; local steps touch only the rows
    (entities) of classes below ``k`` (or below ``l_div`` distinct ``sensitive`` values among
    classes holding an ``involved`` row). Only when every step is spent does
    :func:`enforce_k` blank the residual rows' quasi-identifiers in ``order``.

    Returns
    -------
    (DataFrame, report)
        Report: ``steps`` (per step: column, scope, values changed, k and rows below the
        thresholds after it), ``suppression`` (the :func:`enforce_k` report) and ``holds``.
    """
    c = code_frame(df, qis, by, sensitive, involved, steps, entity)
    report = generalise_coded(c, qis, steps, k, by, sensitive, involved, l_div, order)
    changed = dict.fromkeys([*(st.column for st in steps), *(q for q in qis if q not in by)])
    return df.with_columns(c.column(col) for col in changed), report


def code_frame(
    df: pl.DataFrame,
    qis: tuple[str, ...],
    by: tuple[str, ...],
    sensitive: str | None,
    involved: str | None,
    steps: tuple[Step, ...] = (),
    entity: str | None = None,
    keep: tuple[str, ...] = (),
) -> CodedFrame:
    """``df`` coded on every column the classes, ``steps`` and measures read (and ``keep``)."""
    cols = [
        *by,
        *qis,
        *(st.column for st in steps),
        *(c for st in steps if st.value is not None for c in st.value.meta.root_names()),
        *keep,
        *(c for c in (sensitive, involved) if c),
    ]
    return CodedFrame(df, list(dict.fromkeys(cols)), entity)
