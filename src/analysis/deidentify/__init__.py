"""De-identification: identifiable sources + links -> the analytic dataset.

The only stage besides ``linkage`` that reads ``sources/``; its output ``analytic/`` holds no name,
birth date, postal code, OEN or source record id (docs/data-contract.md).

Pseudonyms
    ``study_id`` = HMAC-SHA256(key, "oen:" + OEN), ``cw_study_id`` = HMAC(key, "cw_person:" + id),
    ``case_study_id`` = HMAC(key, "case:" + id), hashed ``school_id`` = HMAC(key, "school:" + id);
    hex, first 32 characters. The domain prefixes keep one identifier space from colliding with
    another. The key comes from the environment variable ``privacy.key_env`` or the file
    ``privacy.key_file``; for synthetic builds (``privacy.synthetic_dev_key``) a development key
    is derived from the seed when none is given, and labelled as such. Only a fingerprint
    (HMAC of a fixed label) leaves the stage.
Coarsening
    Birth date -> ``birth_year`` and ``age_sept1``; postal code -> ``region`` (first letter);
    event dates -> school or fiscal years and day counts. The non-identifying reference tables
    (``boards``, ``societies``) are copied into ``analytic/`` so later stages read only that.
Re-identification risk: quasi-identifiers
    The attacker is assumed to know what a neighbour, teacher or relative knows: a child's birth
    year, gender, region and race, and (for child-welfare persons) the society serving them and
    their gender identity. So ``student_years`` is measured per school year on ``QI_STUDENT``
    (birth-year band, gender, region, race group, gender identity), with distinct l-diversity
    of ``care_status`` in classes holding any child-welfare service; ``cw_persons`` on
    ``QI_CW`` (society or its region, birth-year band, gender identity, race). Not enforced,
    and said so in ``risk.json``: ``born_outside_canada`` and ``first_language`` (measured as
    ``student_years_supplementary``), ``board_id``, hashed ``school_id`` and ``grade``; and
    the join of tables through ``study_id`` / ``cw_study_id`` (each table is measured alone).
Re-identification risk: the hierarchy
    Generalise before suppressing, least analytically useful first (:func:`generalise`):

    ``student_years``
        1. global: race -> ``race_group`` (indigenous, black, white, other_racialized,
           not_stated; a missing race of a child-welfare-involved student is not_stated);
        2. global: gender identity -> girl_woman, boy_man, gender_diverse, not_stated;
        3. local: region -> Ontario;
        4. local: birth year -> 3-year band -> 6-year band (``birth_year_band``; ``birth_year``
           and ``age_sept1`` stay only where the band is a single year);
        5. local suppression in ``SUPPRESSION_ORDER`` (birth-year band first: grade carries
           most of its analytic value), then the last-resort class merge of :func:`enforce_k`.
    ``cw_persons``
        1. global: gender identity -> 4 groups; 2. local: society -> its region;
        3. local: race -> race group; 4. local: birth year -> 3-year band; 5. local: region
        -> Ontario; 6. local: birth year -> 6-year band; 7. local suppression in
        ``SUPPRESSION_ORDER_CW``.

    "Local" steps touch only records (all rows of the same student) in classes still below
    ``k`` or ``l``, so most of the population keeps full detail. ``race`` in ``student_years``
    holds the grouped value (same as ``race_group``); ``indigenous`` is derived from the
    detailed race and is null wherever race is suppressed. ``risk.json`` records the method,
    every step with the number of values it changed, the suppression counts, the measures
    before and after, and the utility kept (shares of child-welfare-involved rows keeping each
    dimension).

Modules
    :mod:`.stage` (``run``: read, build, check, write atomically); :mod:`.inputs` (what is read);
    :mod:`.keys` (the study key and pseudonyms); :mod:`.persons` (child-welfare persons as linkage
    resolved them); :mod:`.care` (care status by school year, days in care); :mod:`.geography`
    (postal code -> region); :mod:`.school` and :mod:`.child_welfare` (the tables);
    :mod:`.analytic` (all of them, with the risk report); :mod:`.contract` (tables and columns
    written); :mod:`.policy` (quasi-identifiers, suppression orders, the method in
    ``risk.json``); :mod:`.hierarchy` (the generalisation steps); :mod:`.anonymity` (measure,
    generalise, suppress) on :mod:`.states` (a frame as its distinct row states);
    :mod:`.utility` (what generalisation kept); :mod:`.scan` (the identifier scan of outputs).
    The study's vocabularies and calendar come from :mod:`analysis.domain`.
"""

from __future__ import annotations

from analysis.deidentify.analytic import build_analytic
from analysis.deidentify.anonymity import enforce_k, generalise, measure_risk, measure_risk_pycanon
from analysis.deidentify.contract import CW_PERSON_COLUMNS, REFERENCE, STUDENT_YEAR_COLUMNS
from analysis.deidentify.errors import DeidentifyError
from analysis.deidentify.geography import postal_area, region_of_postal
from analysis.deidentify.hierarchy import Step, birth_year_band, cw_person_steps, student_year_steps
from analysis.deidentify.keys import StudyKey, load_key, pseudonym
from analysis.deidentify.policy import (
    QI_CW,
    QI_CW_PUBLISHED,
    QI_STUDENT,
    SUPPRESSION_ORDER,
    SUPPRESSION_ORDER_CW,
)
from analysis.deidentify.scan import Hit, scan_for_identifiers, scan_notes
from analysis.deidentify.stage import dump_risk, run
from analysis.deidentify.threat import QI_SETS, STUDENT_YEAR_SETS, QISet, threat_model
from analysis.deidentify.verify import verify_published

__all__ = [
    "CW_PERSON_COLUMNS",
    "QI_CW",
    "QI_SETS",
    "QI_CW_PUBLISHED",
    "QI_STUDENT",
    "REFERENCE",
    "STUDENT_YEAR_SETS",
    "STUDENT_YEAR_COLUMNS",
    "SUPPRESSION_ORDER",
    "SUPPRESSION_ORDER_CW",
    "DeidentifyError",
    "Hit",
    "QISet",
    "Step",
    "StudyKey",
    "birth_year_band",
    "build_analytic",
    "cw_person_steps",
    "dump_risk",
    "enforce_k",
    "generalise",
    "load_key",
    "measure_risk",
    "measure_risk_pycanon",
    "postal_area",
    "pseudonym",
    "region_of_postal",
    "run",
    "scan_for_identifiers",
    "scan_notes",
    "student_year_steps",
    "threat_model",
    "verify_published",
]
