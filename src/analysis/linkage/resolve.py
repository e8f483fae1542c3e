"""From scored pairs to links: record posterior, the deterministic OEN pass, duplicates,
one-to-one resolution.

0. **Record posterior** (:func:`record_posterior`). splink's pairwise probability becomes the
   probability that a student is *the* student of a record: a record has one student at most,
   and a prior of having one at all that depends on what the record says (its birth cohort and
   its OEN status: none, an enrolled student's, or a valid OEN that is no student's), fitted by
   EM with the overall share without a student inside ``Linkage.no_student_share_range``. This
   is the published probability; it is checked for calibration against the synthetic truth.
1. **Deterministic pass.** A child-welfare record whose Luhn-valid OEN is a student's OEN is
   linked to that student only when the other identifiers agree enough that a wrong OEN (one
   that belongs to another student) cannot force the link: the birth date agrees at some level
   (exact, day-month swap, one day or one year out) *and* the first name or the surname agrees at
   some level (or the postal code is one of the student's); or both names agree when the birth
   date does not. Otherwise the record falls to the probabilistic pass like any record without
   an OEN.
2. **Duplicate child-welfare records.** Records are grouped into persons (``cw_person_id``) by
   connected components of (a) record pairs the model scores at or above
   ``Linkage.high_confidence`` as the same child, (b) records that each match the same student
   deterministically or at or above ``Linkage.high_confidence``, (c) record pairs scored at
   or above ``DUPLICATE_LIKELY`` (0.5) whose best candidate is the same student (at or above
   the threshold for both), (d) a record whose best candidate (at or above the threshold) is a
   student another record matches deterministically or with high confidence, and (e) a record
   b that is record a's duplicate with probability p (at least ``DUPLICATE_LIKELY``) when a is a
   student with probability q (1 if deterministic) and p q reaches the threshold, unless b's own
   best candidate is another student at or above the threshold. Two records whose own evidence
   points at two different students (a confirmed OEN, or a best candidate at or above the
   threshold) are never merged, however alike: a student is one child, so they are two
   children (twins), and neither loses its own OEN to the other's. A person's candidates are
   the union of its records' candidates.
3. **One-to-one.** Candidates (deterministic first, then by match probability and weight) are
   taken greedily: a person gets at most one student and a student at most one person. A
   probabilistic candidate needs ``match_probability >= Linkage.match_threshold`` and must beat
   the person's next available candidate by ``AMBIGUITY_MARGIN`` bits of match weight; when two
   students are that close (typically twins: same surname, birth date and address) the person is
   left unlinked as ``ambiguous`` rather than linked by a coin toss.
4. **Records.** Each record of a linked person carries the person's student with the
   probability that *its* link is right: its own posterior, or a duplicate's vouching for it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from analysis.linkage.model import POSTAL_LEVELS

POSTAL_EXACT = POSTAL_LEVELS.index("exact")  # gamma of the postal comparison's "exact" level
DUPLICATE_LIKELY = 0.5  # record pair "more likely than not" the same child
AMBIGUITY_MARGIN = 2.0  # bits of match weight (a Bayes factor of 4)
UNBLOCKED_MASS = 0.01  # share of true pairs no blocking rule finds (m-mass outside the blocks)


# sd (log-odds) of the Gaussian prior on each covariate effect in the record prior: shrinks a
# small group (a birth cohort of five records) towards the mean, lets a large one (children born
# last year: none has a school record) go where its evidence says
PRIOR_EFFECT_SD = 2.5
PI_BOUNDS = (1e-3, 1.0 - 1e-3)  # a record's prior of having a student stays inside these


def _logistic(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))  # 1 / (1 + e^-x), without overflow


def _ridge_logistic_step(
    x: np.ndarray, n: np.ndarray, y: np.ndarray, beta: np.ndarray, lam: float, steps: int = 3
) -> np.ndarray:
    """Damped Newton steps of a logistic regression of soft counts ``y`` out of ``n`` per cell on
    the design ``x`` (column 0 the intercept, unpenalised; the rest with a ridge ``lam``): each
    step is halved until the penalised log-likelihood does not fall (plain Newton overshoots when
    a cell's share is far from the start)."""
    d = np.full(x.shape[1], lam)
    d[0] = 0.0

    def objective(b: np.ndarray) -> float:
        eta = x @ b
        # log-likelihood of the soft counts, written stably (log(1 + e^eta) = logaddexp(0, eta))
        return float(np.sum(y * eta - n * np.logaddexp(0.0, eta)) - 0.5 * np.sum(d * b * b))

    current = objective(beta)
    for _ in range(steps):
        p = _logistic(x @ beta)
        grad = x.T @ (y - n * p) - d * beta
        w = n * p * (1.0 - p)
        hess = (x * w[:, None]).T @ x + np.diag(d) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        for _ in range(30):
            trial = beta + step
            value = objective(trial)
            if value >= current:
                beta, current = trial, value
                break
            step = step / 2.0
        else:
            break
    return beta


def record_posterior(
    pairs: pl.DataFrame,
    n_students: int,
    prior_weight: float,
    *,
    covariates: pl.DataFrame | None = None,
    share_range: tuple[float, float] = (0.01, 0.99),
    share_start: float = 0.12,
    unblocked_mass: float = UNBLOCKED_MASS,
    iterations: int = 50,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Posterior that a student is *the* match of a record, given all its candidates.

    splink's pairwise probability treats each pair alone, as if any of the N students could also
    match. A child-welfare record matches at most one student, so with ``pi`` = P(the record has
    a student record) and Bayes factors ``BF`` from the trained model::

        P(s | record) = pi BF_s / (N (1 - pi) + pi (sum of BF over scored candidates + N eps))

    where ``N eps`` stands for the students no blocking rule paired with the record (``eps`` =
    the m-mass outside the blocks, :data:`UNBLOCKED_MASS`; their u-weighted Bayes factors sum to
    it).

    ``pi`` is the record's own prior: a logistic model on the record's ``covariates`` (``cw_id``
    and categorical columns, e.g. the recorded birth year and the OEN status: none, enrolled or
    no student's), fitted by EM (the expected "has a student" of each record is the sum of its
    posteriors; effects shrunk by a Gaussian prior of sd :data:`PRIOR_EFFECT_SD`). Whether a child
    has a school record depends strongly on age (a child born last year has none) and on what the
    record says: a record with no OEN is likelier to be a child outside the school system, and one
    whose valid OEN belongs to no enrolled student likelier still. That is evidence about the
    record, the same for every candidate, so it enters here and not in the pair scores. The share
    of records without a student (``1 - mean pi``) starts at ``share_start``
    (``Linkage.no_student_share``) and is kept inside ``share_range``
    (``Linkage.no_student_share_range``): it is known in advance within a range.

    Returns
    -------
    pairs, report
        ``pairs`` with a ``posterior`` column; the report: the configured share and range, the
        share the data gave, the share used, and the mean prior by covariate level.
    """
    # numpy with sequential sums (bincount): a parallel group-by adds in a varying order, and
    # the same data must give the same bytes
    n = float(max(n_students, 1))
    if covariates is not None:
        cov_cols = [c for c in covariates.columns if c != "cw_id"]
        records = covariates.select(
            "cw_id", *[pl.col(c).cast(pl.String).fill_null("?") for c in cov_cols]
        ).unique(subset="cw_id", keep="first", maintain_order=True)
    else:
        cov_cols = []
        records = pairs.select("cw_id").unique(maintain_order=True)
    extra = pairs.select("cw_id").unique().join(records.select("cw_id"), on="cw_id", how="anti")
    if extra.height:  # pairs of records not in ``covariates``: a level "?" of their own
        records = pl.concat(
            [records, extra.with_columns(*[pl.lit("?").alias(c) for c in cov_cols])],
            how="vertical_relaxed",
        )
    records = records.sort("cw_id").with_row_index("_r")
    pr = pairs.join(records.select("cw_id", "_r"), on="cw_id", how="left", maintain_order="left")
    rec = pr["_r"].to_numpy().astype(np.int64)
    bf = np.exp2(pr["match_weight"].to_numpy() - prior_weight)
    n_records = records.height
    bf_sum = np.bincount(rec, weights=bf, minlength=n_records)

    # cells: distinct covariate combinations; design: intercept + one column per level
    if cov_cols:
        key = pl.concat_str(cov_cols, separator="\x1f").rank("dense").cast(pl.Int64) - 1
        cell = records.select(key).to_series().to_numpy()
    else:
        cell = np.zeros(n_records, dtype=np.int64)
    n_cells = int(cell.max()) + 1 if n_records else 1
    first_of_cell = np.full(n_cells, -1, dtype=np.int64)
    first_of_cell[cell[::-1]] = np.arange(n_records)[::-1]
    columns: list[tuple[str, str]] = []
    blocks = [np.ones((n_cells, 1))]
    for c in cov_cols:
        vals = records[c].to_numpy()[np.maximum(first_of_cell, 0)]
        levels = sorted(set(records[c].to_list()))
        columns.extend((c, lv) for lv in levels)
        blocks.append(np.stack([(vals == lv).astype(float) for lv in levels], axis=1))
    x = np.concatenate(blocks, axis=1)
    n_cell = np.bincount(cell, minlength=n_cells).astype(float)
    lo_share, hi_share = share_range
    lam = 1.0 / PRIOR_EFFECT_SD**2

    def post_sum(pi_r: np.ndarray) -> np.ndarray:
        return pi_r * bf_sum / (n * (1 - pi_r) + pi_r * (bf_sum + n * unblocked_mass))

    def share_of(beta: np.ndarray) -> float:
        pc = np.clip(_logistic(x @ beta), *PI_BOUNDS)
        return 1.0 - float(np.sum(n_cell * pc)) / max(float(n_cell.sum()), 1.0)

    def clamp(beta: np.ndarray) -> np.ndarray:
        """Shift the intercept so the share without a student lies inside the range."""
        target = min(max(share_of(beta), lo_share), hi_share)
        a, b = -30.0, 30.0  # bisection on the intercept shift
        for _ in range(60):
            mid = (a + b) / 2.0
            trial = beta.copy()
            trial[0] += mid
            if share_of(trial) > target:
                a = mid
            else:
                b = mid
        beta = beta.copy()
        beta[0] += (a + b) / 2.0
        return beta

    beta = np.zeros(x.shape[1])
    beta[0] = math.log((1.0 - share_start) / share_start)
    estimated = share_start
    for _ in range(iterations):
        pi_r = np.clip(_logistic(x @ beta), *PI_BOUNDS)[cell]
        y_cell = np.bincount(cell, weights=post_sum(pi_r), minlength=n_cells)
        beta = _ridge_logistic_step(x, n_cell, np.minimum(y_cell, n_cell), beta, lam)
        estimated = share_of(beta)
        beta = clamp(beta)
    pi_cell = np.clip(_logistic(x @ beta), *PI_BOUNDS)
    pi_r = pi_cell[cell]
    p_r = pi_r[rec]
    posterior = p_r * bf / (n * (1 - p_r) + p_r * (bf_sum[rec] + n * unblocked_mass))
    by_level: dict[str, dict[str, Any]] = {}
    for c in cov_cols:
        vals = records[c].to_numpy()
        lv_stats = {}
        for lv in sorted(set(vals.tolist())):
            mask = vals == lv
            lv_stats[str(lv)] = {
                "records": int(mask.sum()),
                "prior_has_student": float(pi_r[mask].mean()),
                "expected_with_student": float(post_sum(pi_r)[mask].sum()),
            }
        by_level[c] = lv_stats
    report = {
        "no_student_share_configured": share_start,
        "no_student_share_range": [lo_share, hi_share],
        "no_student_share_estimated": estimated,
        "no_student_share_used": share_of(beta),
        "share_clipped_to_range": not (lo_share <= estimated <= hi_share),
        "covariates": cov_cols,
        "prior_effect_sd": PRIOR_EFFECT_SD,
        "by_covariate": by_level,
    }
    return pairs.with_columns(pl.Series("posterior", posterior, dtype=pl.Float64)), report


UNLINKED_REASONS = {
    "no_candidate": "no student record shared a blocking key",
    "below_threshold": "best candidate below the match threshold",
    "ambiguous": "two students scored within the ambiguity margin (e.g. twins)",
    "student_taken": "the best candidate student was linked to another child with a higher score",
}


def deterministic_mask() -> pl.Expr:
    """Confirmation rule of the OEN pass, on the gamma columns of a scored pair."""
    dob_ok = pl.col("gamma_dob") >= 1
    first_ok = pl.col("gamma_first_name") >= 1
    last_ok = pl.col("gamma_last_name") >= 1
    postal_ok = pl.col("gamma_postal") >= POSTAL_EXACT
    return pl.col("same_oen") & ((dob_ok & (first_ok | last_ok | postal_ok)) | (first_ok & last_ok))


def _components(
    ids: list[str], edges: list[tuple[str, str]], pinned: dict[str, str] | None = None
) -> tuple[dict[str, str], int]:
    """Union-find with cannot-link: each id -> the smallest id of its component.

    ``pinned`` maps a record to the student its own evidence points to (:func:`_own_students`);
    two components pinned to different students are never merged (a student is one child, so
    two records that each are a different student are two children: twins, not duplicates).
    Edges are taken in sorted order, so the result does not depend on how they were found.

    Returns
    -------
    components, refused
        id -> component root, and the number of edges refused by the cannot-link rule.
    """
    parent = {i: i for i in ids}
    pin = dict(pinned or {})

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    refused = 0
    for a, b in sorted({(min(e), max(e)) for e in edges}):
        if a not in parent or b not in parent:
            continue
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        pa, pb = pin.get(ra), pin.get(rb)
        if pa is not None and pb is not None and pa != pb:
            refused += 1
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        parent[drop] = keep
        if pin.get(keep) is None and pin.get(drop) is not None:
            pin[keep] = pin[drop]
    return {i: find(i) for i in ids}, refused


def _own_students(pairs: pl.DataFrame, threshold: float) -> dict[str, str]:
    """Record -> the student its own evidence points to: its confirmed OEN's student (the
    deterministic pass), else its best candidate when that reaches ``threshold`` (ties to the
    smaller OEN). Records whose best candidate is below the threshold are not pinned."""
    best = (
        pairs.sort(
            ["cw_id", "deterministic", "match_probability", "oen"],
            descending=[False, True, True, False],
        )
        .group_by("cw_id", maintain_order=True)
        .first()
        .filter(pl.col("deterministic") | (pl.col("match_probability") >= threshold))
    )
    return dict(best.select("cw_id", "oen").iter_rows())


Edge = tuple[str, str]
# person -> its candidates (oen, deterministic, match_probability, match_weight), best first
Candidates = dict[str, list[tuple[str, bool, float, float]]]


def _strong(high_confidence: float) -> pl.Expr:
    """A pair that pins its record to its student: confirmed OEN or at least ``high_confidence``."""
    return pl.col("deterministic") | (pl.col("match_probability") >= high_confidence)


def _scored_duplicate_edges(cw_pairs: pl.DataFrame, high_confidence: float) -> list[Edge]:
    """Evidence (a): record pairs the duplicate model scores at or above ``high_confidence``."""
    return [
        (a, b)
        for a, b, p in cw_pairs.select("cw_id_1", "cw_id_2", "match_probability").iter_rows()
        if p >= high_confidence
    ]


def _same_student_edges(pairs: pl.DataFrame, high_confidence: float) -> list[Edge]:
    """Evidence (b): two records that each match the same student deterministically or with high
    confidence are the same child (there is only one student); each is joined to the group's
    smallest record id."""
    det = pairs.filter(_strong(high_confidence)).select("cw_id", "oen")
    edges: list[Edge] = []
    for _, grp in det.group_by("oen"):
        members = sorted(grp["cw_id"].to_list())
        edges.extend((members[0], m) for m in members[1:])
    return edges


def _best_candidates(pairs: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Each record's best candidate student (``cw_id``, ``oen``) by match probability (ties to the
    smaller OEN), kept only when it reaches ``threshold``."""
    ranked = pairs.sort(
        ["cw_id", "match_probability", "oen"], descending=[False, True, False]
    ).group_by("cw_id", maintain_order=True)
    best_any = ranked.first().select("cw_id", "oen", "match_probability")
    return best_any.filter(pl.col("match_probability") >= threshold).select("cw_id", "oen")


def _likely_duplicate_same_best_edges(cw_pairs: pl.DataFrame, best: pl.DataFrame) -> list[Edge]:
    """Evidence (c): two records the duplicate model scores as more likely than not the same child
    (:data:`DUPLICATE_LIKELY`) whose best candidate is the same student (at or above the
    threshold for both) are the same child; otherwise one would take the student and the other
    be left ``student_taken``."""
    likely = (
        cw_pairs.filter(pl.col("match_probability") >= DUPLICATE_LIKELY)
        .join(best.rename({"cw_id": "cw_id_1", "oen": "oen_1"}), on="cw_id_1")
        .join(best.rename({"cw_id": "cw_id_2", "oen": "oen_2"}), on="cw_id_2")
        .filter(pl.col("oen_1") == pl.col("oen_2"))
    )
    return list(likely.select("cw_id_1", "cw_id_2").iter_rows())


def _best_is_strong_student_edges(
    pairs: pl.DataFrame, best: pl.DataFrame, high_confidence: float
) -> list[Edge]:
    """Evidence (d): a record whose best candidate (at or above the threshold) is a student
    another record matches deterministically or with high confidence is that record's duplicate:
    the model says it is that student, and a student is one child."""
    strong = pairs.filter(_strong(high_confidence)).select(pl.col("cw_id").alias("cw_a"), "oen")
    taken = (
        best.join(strong, on="oen")
        .filter(pl.col("cw_a") != pl.col("cw_id"))
        .select("cw_a", "cw_id")
        .sort("cw_a", "cw_id")
    )
    return list(taken.iter_rows())


def _certain_if_deterministic(alias: str) -> pl.Expr:
    """The pair's match probability, a confirmed OEN counting as certain (1)."""
    return (
        pl.when(pl.col("deterministic"))
        .then(1.0)
        .otherwise(pl.col("match_probability"))
        .alias(alias)
    )


def _through_duplicate_edges(
    pairs: pl.DataFrame, cw_pairs: pl.DataFrame, threshold: float
) -> list[Edge]:
    """Evidence (e): if record b is record a's child with probability p (the duplicate model,
    at least :data:`DUPLICATE_LIKELY`) and a is student s with probability q (1 when
    deterministic), b is s with probability at least p q. When that reaches ``threshold`` and
    b's own evidence points nowhere else (its best candidate is s, or below the threshold), b
    joins a's person."""
    via = pairs.filter(pl.col("deterministic") | (pl.col("match_probability") >= threshold)).select(
        pl.col("cw_id").alias("cw_a"), "oen", _certain_if_deterministic("q")
    )
    dup = cw_pairs.filter(pl.col("match_probability") >= DUPLICATE_LIKELY).select(
        "cw_id_1", "cw_id_2", "match_probability"
    )
    both_ways = pl.concat(
        [
            dup.select(
                pl.col("cw_id_1").alias("cw_a"),
                pl.col("cw_id_2").alias("cw_b"),
                "match_probability",
            ),
            dup.select(
                pl.col("cw_id_2").alias("cw_a"),
                pl.col("cw_id_1").alias("cw_b"),
                "match_probability",
            ),
        ]
    )
    # b's own best, a confirmed OEN counting as certain
    own_best = (
        pairs.with_columns(_certain_if_deterministic("own_p"))
        .sort(["cw_id", "own_p", "oen"], descending=[False, True, False])
        .group_by("cw_id", maintain_order=True)
        .first()
        .select(pl.col("cw_id").alias("cw_b"), pl.col("oen").alias("own_oen"), "own_p")
    )
    through = (
        both_ways.join(via, on="cw_a")
        .filter(pl.col("match_probability") * pl.col("q") >= threshold)
        .join(own_best, on="cw_b", how="left")
        .filter(
            pl.col("own_oen").is_null()
            | (pl.col("own_oen") == pl.col("oen"))
            | (pl.col("own_p") < threshold)
        )
        .select("cw_a", "cw_b")
        .unique()
        .sort("cw_a", "cw_b")
    )
    return list(through.iter_rows())


def duplicate_edges(
    pairs: pl.DataFrame, cw_pairs: pl.DataFrame, *, threshold: float, high_confidence: float
) -> list[Edge]:
    """Record pairs that are the same child, from the five kinds of evidence (a)-(e) of the
    module docstring; ``pairs`` needs the ``deterministic`` column (:func:`deterministic_mask`)."""
    best = _best_candidates(pairs, threshold)
    return [
        *_scored_duplicate_edges(cw_pairs, high_confidence),
        *_same_student_edges(pairs, high_confidence),
        *_likely_duplicate_same_best_edges(cw_pairs, best),
        *_best_is_strong_student_edges(pairs, best, high_confidence),
        *_through_duplicate_edges(pairs, cw_pairs, threshold),
    ]


def _person_candidates(
    pairs: pl.DataFrame, person: pl.DataFrame
) -> tuple[list[tuple[str, str, bool, float, float]], Candidates]:
    """A person's candidates are the union of its records' candidates: per (person, student) the
    pair is deterministic if any record's is, with the best probability and weight of any.

    Returns
    -------
    ranked, by_person
        Every (person, oen, deterministic, match_probability, match_weight), deterministic first,
        then by probability and weight (ties by person and OEN); and the same per person.
    """
    cand = (
        pairs.join(person, on="cw_id", how="inner")
        .group_by("person", "oen")
        .agg(
            pl.col("deterministic").any(),
            pl.col("match_probability").max(),
            pl.col("match_weight").max(),
        )
        .sort(
            ["deterministic", "match_probability", "match_weight", "person", "oen"],
            descending=[True, True, True, False, False],
        )
    )
    ranked = list(
        cand.select(
            "person", "oen", "deterministic", "match_probability", "match_weight"
        ).iter_rows()
    )
    by_person: Candidates = {}
    for p, o, d, prob, w in ranked:
        by_person.setdefault(p, []).append((o, d, prob, w))
    return ranked, by_person


def _one_to_one(
    ranked: list[tuple[str, str, bool, float, float]],
    by_person: Candidates,
    *,
    threshold: float,
    margin: float,
) -> tuple[dict[str, tuple[str, bool, float]], dict[str, str]]:
    """Greedy one-to-one matching of persons and students, best candidate first.

    A deterministic candidate is taken if its student is free. A probabilistic one needs
    ``threshold`` and must beat the person's best other candidate still free by ``margin`` bits
    of match weight; if not, the person is left ``ambiguous`` (twins) and takes nothing.

    Returns
    -------
    assigned, reason
        person -> (oen, deterministic, match_probability); person -> ``"ambiguous"``.
    """
    taken_oen: dict[str, str] = {}
    assigned: dict[str, tuple[str, bool, float]] = {}
    reason: dict[str, str] = {}
    for p, o, d, prob, w in ranked:
        if p in assigned or p in reason:
            continue
        if o in taken_oen:
            continue
        if not d:
            if prob < threshold:
                continue
            # the next candidate of this person still available
            rivals = [rw for (ro, rd, rp, rw) in by_person[p] if ro != o and ro not in taken_oen]
            if rivals and max(rivals) > w - margin:
                reason[p] = "ambiguous"
                continue
        assigned[p] = (o, d, prob)
        taken_oen[o] = p
    return assigned, reason


def _unlinked_reasons(
    roots: list[str],
    assigned: dict[str, tuple[str, bool, float]],
    reason: dict[str, str],
    by_person: Candidates,
    threshold: float,
) -> dict[str, str]:
    """Why each person without a student is unlinked (:data:`UNLINKED_REASONS`): ``reason``
    (the ambiguous ones) completed with ``no_candidate``, ``student_taken`` (a candidate reached
    the threshold but its student went to another person) or ``below_threshold``."""
    out = dict(reason)
    for p in roots:
        if p in assigned or p in out:
            continue
        cands = by_person.get(p, [])
        if not cands:
            out[p] = "no_candidate"
        elif any(prob >= threshold for (_, _, prob, _) in cands):
            out[p] = "student_taken"
        else:
            out[p] = "below_threshold"
    return out


def _published_probability(
    link_rows: pl.DataFrame, pairs: pl.DataFrame, cw_pairs: pl.DataFrame
) -> pl.DataFrame:
    """``match_probability`` of each linked record: the probability that *its* link is right.

    A record's own posterior for the student, or, when it holds the student through a duplicate
    (a record of the same person with its own pair to the student), the duplicate probability
    times that record's posterior (a confirmed OEN counting as its posterior), whichever is
    larger. Never the person's best: a record merged into a person keeps its own low posterior
    unless a duplicate vouches for it.
    """
    own = pairs.select("cw_id", "oen", pl.col("match_probability").alias("own_p"))
    rows = link_rows.filter(pl.col("oen").is_not_null()).select("cw_id", "person", "oen")
    with_own = rows.join(own, on=["cw_id", "oen"], how="left")
    dup = pl.concat(
        [
            cw_pairs.select(
                pl.col("cw_id_1").alias("cw_id"),
                pl.col("cw_id_2").alias("mate"),
                "match_probability",
            ),
            cw_pairs.select(
                pl.col("cw_id_2").alias("cw_id"),
                pl.col("cw_id_1").alias("mate"),
                "match_probability",
            ),
        ]
    ).rename({"match_probability": "dup_p"})
    mates = (
        rows.join(dup, on="cw_id")
        .join(
            with_own.select(
                pl.col("cw_id").alias("mate"), "person", pl.col("own_p").alias("mate_p")
            ),
            on=["mate", "person"],
        )
        .group_by("cw_id")
        .agg((pl.col("dup_p") * pl.col("mate_p").fill_null(0.0)).max().alias("via_p"))
    )
    return with_own.join(mates, on="cw_id", how="left").select(
        "cw_id",
        pl.max_horizontal(pl.col("own_p").fill_null(0.0), pl.col("via_p").fill_null(0.0)).alias(
            "published_p"
        ),
    )


def _record_tables(
    ids: list[str],
    comp: dict[str, str],
    person_no: dict[str, str],
    assigned: dict[str, tuple[str, bool, float]],
    reason: dict[str, str],
    pairs: pl.DataFrame,
    cw_pairs: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Person decisions back to one row per record.

    Every record of a linked person carries the person's student; its ``match_probability`` is
    the probability that its own link is right (:func:`_published_probability`), and its
    ``link_pass`` is ``deterministic`` only when its own pair with that student is. Records of
    unlinked persons get the person's reason.
    """
    own = pairs.select(
        "cw_id",
        "oen",
        pl.col("deterministic").alias("own_det"),
    )
    link_rows = pl.DataFrame(
        {
            "cw_id": ids,
            "person": [comp[i] for i in ids],
            "oen": [assigned[comp[i]][0] if comp[i] in assigned else None for i in ids],
        },
        schema={"cw_id": pl.String, "person": pl.String, "oen": pl.String},
    ).join(own, on=["cw_id", "oen"], how="left")
    published = _published_probability(link_rows, pairs, cw_pairs)
    link_rows = link_rows.join(published, on="cw_id", how="left")
    links = link_rows.select(
        pl.col("cw_id").alias("cw_record_id"),
        pl.col("person").replace_strict(person_no, return_dtype=pl.String).alias("cw_person_id"),
        "oen",
        pl.when(pl.col("oen").is_null())
        .then(None)
        .otherwise(pl.col("published_p").fill_null(0.0))
        .alias("match_probability"),
        pl.when(pl.col("oen").is_null())
        .then(None)
        .when(pl.col("own_det").fill_null(False))
        .then(pl.lit("deterministic"))
        .otherwise(pl.lit("probabilistic"))
        .alias("link_pass"),
    ).sort("cw_record_id")
    unlinked = (
        link_rows.filter(pl.col("oen").is_null())
        .select(
            pl.col("cw_id").alias("cw_record_id"),
            pl.col("person").replace_strict(reason, return_dtype=pl.String).alias("reason"),
        )
        .sort("cw_record_id")
    )
    return links, unlinked


def resolve(
    cw_ids: pl.Series,
    pairs: pl.DataFrame,
    cw_pairs: pl.DataFrame,
    *,
    threshold: float,
    high_confidence: float,
    margin: float = AMBIGUITY_MARGIN,
    stats: dict[str, Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Resolve scored pairs into the link table and the unlinked table.

    Parameters
    ----------
    cw_ids
        Every ``cw_record_id``.
    pairs
        Scored child-welfare x student pairs (:class:`analysis.linkage.model.Scored.pairs`); when
        a ``posterior`` column is present (:func:`record_posterior`) it is the probability used.
    cw_pairs
        Scored child-welfare x child-welfare pairs (``cw_id_1``, ``cw_id_2``, ``match_probability``).
    threshold, high_confidence
        ``Linkage.match_threshold`` and ``Linkage.high_confidence``.
    margin
        Ambiguity margin in bits.
    stats
        When given, filled with counts for the quality report (duplicate edges, merges refused).

    Returns
    -------
    links, unlinked
        ``links``: ``cw_record_id``, ``cw_person_id``, ``oen``, ``match_probability``, ``link_pass``
        (one row per record). ``unlinked``: ``cw_record_id``, ``reason``.
    """
    ids = sorted(cw_ids.to_list())
    if "posterior" in pairs.columns:  # record-level posterior (record_posterior) when available
        pairs = pairs.with_columns(pl.col("posterior").alias("match_probability"))
    pairs = pairs.with_columns(deterministic_mask().alias("deterministic"))

    # 1-2. the deterministic pass and persons (connected components of duplicate evidence; two
    # records whose own evidence points at two different students are never merged)
    edges = duplicate_edges(pairs, cw_pairs, threshold=threshold, high_confidence=high_confidence)
    comp, refused = _components(ids, edges, _own_students(pairs, threshold))
    if stats is not None:
        stats["duplicate_edges"] = len({(min(e), max(e)) for e in edges})
        stats["duplicate_merges_refused"] = refused
    roots = sorted(set(comp.values()))
    person_no = {r: f"CWP{i + 1:07d}" for i, r in enumerate(roots)}
    person = pl.DataFrame(
        {"cw_id": ids, "person": [comp[i] for i in ids]},
        schema={"cw_id": pl.String, "person": pl.String},
    )

    # 3. one-to-one on person-level candidates
    ranked, by_person = _person_candidates(pairs, person)
    assigned, ambiguous = _one_to_one(ranked, by_person, threshold=threshold, margin=margin)
    reason = _unlinked_reasons(roots, assigned, ambiguous, by_person, threshold)

    # 4. record-level rows
    return _record_tables(ids, comp, person_no, assigned, reason, pairs, cw_pairs)
