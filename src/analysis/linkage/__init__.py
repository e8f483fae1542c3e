"""Record linkage: child-welfare records to school records (splink, measured against the truth).

The method, step by step:

1. **Standardise** (:mod:`.standardise`): both sources to one row per child-welfare record and
   one per student (OnSIS student-years collapsed, keeping every postal code), with folded
   names, nickname forms, surname parts, birth-date parts, Luhn-valid OENs and postal codes,
   forward sortation areas and districts.
2. **Score** (:mod:`.model`): a Fellegi-Sunter model in splink (DuckDB, or Spark with the same
   settings, :mod:`.spark`) on six comparisons (first name, surname, birth date, postal code,
   gender, OEN), candidate pairs from eight blocking rules (one of them same OEN, one needing no
   birth date), u by random sampling and m by EM on a seeded sample of the students, then every
   m re-estimated from same-OEN pairs the other identifiers confirm, and the rate of wrong OENs
   measured from pairs the identifiers confirm. Child-welfare records are scored against each
   other too, to find duplicates.
3. **Resolve** (:mod:`.resolve`): splink's pairwise probability becomes a record-level posterior
   (a record matches one student at most; its prior of having any student from its birth cohort
   and OEN status, the overall share from ``Linkage.no_student_share``); a same-OEN pair
   confirmed by the birth date and a name is a deterministic link; duplicate records are merged
   into persons (never two records that are each a different student); persons and students are
   matched one to one, a probabilistic link needing ``Linkage.match_threshold`` and a margin of
   :data:`.resolve.AMBIGUITY_MARGIN` bits over the next candidate (twins are left unlinked).
4. **Measure** (:mod:`.quality`): precision, recall and F1 against the truth, false links among
   records with no student, the calibration of the published probabilities (reliability
   tables), link rates and recall by subgroup, what other thresholds would cost, and
   pseudonymised tables for the linkage analyst.

``run(cfg)`` (:mod:`.stage`) is the stage; it writes the linkage zone atomically::

    links.parquet     cw_record_id, cw_person_id, oen, match_probability, link_pass (one row per record)
    unlinked.parquet  cw_record_id, reason
    model.json        the trained splink model
    quality.json      precision/recall/F1 vs the truth, false links among records with no
                      student, calibration, link rates and recall by subgroup, comparisons per
                      blocking rule, the record prior, the threshold and why, timings
    pairs.parquet     scored candidate pairs (identifiable: stays in the linkage zone; the
                      analyst tables in :mod:`.quality` pseudonymise it)

Only this stage and ``deidentify`` open identifiable files; the truth is read for ``quality.json``
only, after the links are fixed.
"""

from __future__ import annotations

from analysis.linkage.quality import (
    borderline_pairs,
    link_rate_by_subgroup,
    m_u_parameters,
    match_weight_histogram,
    reliability_table,
)
from analysis.linkage.stage import link, run

__all__ = [
    "borderline_pairs",
    "link",
    "link_rate_by_subgroup",
    "m_u_parameters",
    "match_weight_histogram",
    "reliability_table",
    "run",
]
