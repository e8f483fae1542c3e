"""From scored pairs to links: the deterministic OEN pass, duplicates, one-to-one resolution.

1. **Deterministic pass.** A child-welfare record whose Luhn-valid OEN is a student's OEN is
   linked to that student only when the other identifiers agree enough that a wrong OEN (one
   that belongs to another student) cannot force the link: the birth date agrees at some level
   (exact, day-month swap, one day or one year out) *and* the first name or the surname agrees at
   some level (or the postal code is one of the student's); or both names agree when the birth
   date does not. Otherwise the record falls to
   the probabilistic pass like any record without an OEN.
2. **Duplicate child-welfare records.** Records are grouped into persons (``cw_person_id``) by
   connected components of (a) record pairs the model scores at or above
   ``Linkage.high_confidence`` as the same child, (b) records that each match the same student
   deterministically or at or above ``Linkage.high_confidence``, (c) record pairs scored at
   or above ``DUPLICATE_LIKELY`` (0.5) whose best candidate is the same student (at or above
   the threshold for both), (d) a record whose best candidate (at or above the threshold) is a
   student another record matches deterministically or with high confidence, and (e) a record
   b that is record a's duplicate with probability p (at least ``DUPLICATE_LIKELY``) when a is a
   student with probability q (1 if deterministic) and p q reaches the threshold, unless b's own
   best candidate is another student at or above the threshold. A person's candidates are the
   union of its records' candidates.
3. **One-to-one.** Candidates (deterministic first, then by match probability and weight) are
   taken greedily: a person gets at most one student and a student at most one person. A
   probabilistic candidate needs ``match_probability >= Linkage.match_threshold`` and must beat
   the person's next available candidate by ``AMBIGUITY_MARGIN`` bits of match weight; when two
   students are that close (typically twins: same surname, birth date and address) the person is
   left unlinked as ``ambiguous`` rather than linked by a coin toss.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.linkage.model import POSTAL_LEVELS

POSTAL_EXACT = POSTAL_LEVELS.index("exact")  # gamma of the postal comparison's "exact" level
DUPLICATE_LIKELY = 0.5  # record pair "more likely than not" the same child
AMBIGUITY_MARGIN = 2.0  # bits of match weight (a Bayes factor of 4)
UNBLOCKED_MASS = 0.01  # share of true pairs no blocking rule finds (m-mass outside the blocks)


COHORT_PSEUDO_RECORDS = 50.0  # shrinks a small cohort's share with a student towards the mean


def record_posterior(
    pairs: pl.DataFrame,
    n_students: int,
    prior_weight: float,
    *,
    cohorts: pl.DataFrame | None = None,
    unblocked_mass: float = UNBLOCKED_MASS,
    iterations: int = 30,
) -> pl.DataFrame:
    """Posterior that a student is *the* match of a record, given all its candidates.

    splink's pairwise probability treats each pair alone, as if any of the N students could also
    match. A child-welfare record matches at most one student, so with ``pi`` = P(the record has
    a student record) and Bayes factors ``BF`` from the trained model::

        P(s | record) = pi BF_s / (N (1 - pi) + pi (sum of BF over scored candidates + N eps))

    where ``N eps`` stands for the students no blocking rule paired with the record (``eps`` =
    the m-mass outside the blocks, :data:`UNBLOCKED_MASS`; their u-weighted Bayes factors sum to
    it). ``pi`` is estimated from the data by fixed-point iteration (the mean over records of
    their summed posteriors), starting from splink's prior.

    ``cohorts`` (``cw_id``, ``cohort``; e.g. the recorded birth year) gives each cohort its own
    ``pi``, estimated the same way and shrunk towards the overall one by
    :data:`COHORT_PSEUDO_RECORDS` pseudo-records: whether a child has a school record depends
    strongly on age (a child born last year has none), so one ``pi`` for all is too high for the
    youngest and too low for school-age children. Adds column ``posterior``.
    """
    # numpy with sequential sums (bincount): a parallel group-by adds in a varying order, and
    # the same data must give the same bytes
    n = float(max(n_students, 1))
    lam = 2.0**prior_weight / (1 + 2.0**prior_weight)
    pi0 = min(0.99, max(0.01, lam * n))
    if cohorts is not None:
        records = cohorts.select("cw_id", pl.col("cohort").cast(pl.String).fill_null("?")).unique(
            subset="cw_id", keep="first", maintain_order=True
        )
    else:
        records = (
            pairs.select("cw_id")
            .unique(maintain_order=True)
            .with_columns(pl.lit("all").alias("cohort"))
        )
    records = records.sort("cw_id").with_row_index("_r")
    pr = pairs.join(records.select("cw_id", "_r"), on="cw_id", how="left", maintain_order="left")
    if pr["_r"].null_count():  # pairs of records not in ``cohorts``: a cohort of their own
        extra = (
            pr.filter(pl.col("_r").is_null())
            .select("cw_id")
            .unique()
            .sort("cw_id")
            .with_row_index("_r", offset=records.height)
            .with_columns(pl.lit("?").alias("cohort"))
        )
        records = pl.concat([records, extra.select(records.columns)])
        pr = pairs.join(
            records.select("cw_id", "_r"), on="cw_id", how="left", maintain_order="left"
        )
    rec = pr["_r"].to_numpy().astype(np.int64)
    bf = np.exp2(pr["match_weight"].to_numpy() - prior_weight)
    n_records = records.height
    bf_sum = np.bincount(rec, weights=bf, minlength=n_records)
    coh_codes = records["cohort"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_coh = int(coh_codes.max()) + 1 if n_records else 0

    def post(pi: np.ndarray | float) -> np.ndarray:
        return pi * bf_sum / (n * (1 - pi) + pi * (bf_sum + n * unblocked_mass))

    pi = pi0
    for _ in range(iterations):
        pi = min(0.99, max(0.01, float(np.sum(post(pi))) / max(n_records, 1)))
    pi_rec = np.full(n_records, pi)
    if cohorts is not None and n_records:
        size = np.bincount(coh_codes, minlength=n_coh).astype(float)
        pi_coh = np.full(n_coh, pi)
        for _ in range(iterations):
            s_coh = np.bincount(coh_codes, weights=post(pi_coh[coh_codes]), minlength=n_coh)
            pi_coh = np.clip(
                (s_coh + COHORT_PSEUDO_RECORDS * pi) / (size + COHORT_PSEUDO_RECORDS), 0.01, 0.99
            )
        pi_rec = pi_coh[coh_codes]
    p_r = pi_rec[rec]
    posterior = p_r * bf / (n * (1 - p_r) + p_r * (bf_sum[rec] + n * unblocked_mass))
    return pairs.with_columns(pl.Series("posterior", posterior, dtype=pl.Float64))


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


def _components(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    """Union-find: each id -> the smallest id of its component."""
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        if a not in parent or b not in parent:
            continue
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return {i: find(i) for i in ids}


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


def _record_tables(
    ids: list[str],
    comp: dict[str, str],
    person_no: dict[str, str],
    assigned: dict[str, tuple[str, bool, float]],
    reason: dict[str, str],
    pairs: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Person decisions back to one row per record.

    Every record of a linked person carries the person's student; its ``match_probability`` is
    the larger of its own pair's and the person's, and its ``link_pass`` is ``deterministic``
    only when its own pair with that student is. Records of unlinked persons get the person's
    reason.
    """
    own = pairs.select(
        "cw_id",
        "oen",
        pl.col("match_probability").alias("own_p"),
        pl.col("deterministic").alias("own_det"),
    )
    link_rows = pl.DataFrame(
        {
            "cw_id": ids,
            "person": [comp[i] for i in ids],
            "oen": [assigned[comp[i]][0] if comp[i] in assigned else None for i in ids],
            "person_det": [assigned[comp[i]][1] if comp[i] in assigned else None for i in ids],
            "person_p": [assigned[comp[i]][2] if comp[i] in assigned else None for i in ids],
        },
        schema={
            "cw_id": pl.String,
            "person": pl.String,
            "oen": pl.String,
            "person_det": pl.Boolean,
            "person_p": pl.Float64,
        },
    ).join(own, on=["cw_id", "oen"], how="left")
    links = link_rows.select(
        pl.col("cw_id").alias("cw_record_id"),
        pl.col("person").replace_strict(person_no, return_dtype=pl.String).alias("cw_person_id"),
        "oen",
        pl.when(pl.col("oen").is_null())
        .then(None)
        .otherwise(pl.max_horizontal(pl.col("own_p").fill_null(0.0), pl.col("person_p")))
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

    # 1-2. the deterministic pass and persons (connected components of duplicate evidence)
    edges = duplicate_edges(pairs, cw_pairs, threshold=threshold, high_confidence=high_confidence)
    comp = _components(ids, edges)
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
    return _record_tables(ids, comp, person_no, assigned, reason, pairs)
