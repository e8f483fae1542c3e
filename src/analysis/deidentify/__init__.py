"""De-identification: identifiable sources + links -> the analytic dataset.

The only stage besides ``linkage`` that reads ``sources/``; its output ``analytic/`` holds no name,
birth date, postal code, OEN or source record id (docs/data-contract.md).

Pseudonyms
    ``study_id`` = HMAC-SHA256(key, "oen:" + OEN), ``cw_study_id`` = HMAC(key, "cw_person:" + id),
    ``case_study_id`` = HMAC(key, "case:" + id); hex, first 32 characters. The domain prefixes keep one identifier space from colliding with
    another. The key comes from the environment variable ``privacy.key_env`` or the file
    ``privacy.key_file``; for synthetic builds (``privacy.synthetic_dev_key``) a development key
    is derived from the seed when none is given, and labelled as such. Only a fingerprint
    (HMAC of a fixed label) leaves the stage.
Coarsening
    Birth date -> ``birth_year`` and ``age_sept1``; postal code -> ``region`` (first letter);
    event dates -> school or fiscal years and day counts. The non-identifying reference tables
    (``boards``, ``societies``) are copied into ``analytic/`` so later stages read only that.
Re-identification risk: the threat model (:mod:`.threat`)
    The file is for approved analysts in a secure environment; any of them may know a child as
    a school acquaintance (board, grade, gender, birth year, home region), a neighbour or
    relative (home region, birth year, race, gender identity) or a child-welfare worker
    (society, birth year, gender identity, race), and can join a child's rows across years and
    tables. The quasi-identifier sets follow (``QI_SETS``): on ``student_years`` per school year
    the school, community and child-welfare sets, enforced together, each with
    ``board_region`` (the board in the row gives its region away) and distinct l-diversity of
    ``care_status`` in classes holding any child-welfare service; ``cw_persons`` on its
    child-welfare set; the join ``cw_persons`` x ``student_years`` on ``study_id``. Measured, not
    enforced (``risk.json`` says why): the community set with gender, birth country and
    language; the school and child-welfare knowledge together; ``eqao``'s board and assessment
    (held through ``student_years``). The hashed school is not published.
Re-identification risk: the hierarchy (:mod:`.hierarchy`, :mod:`.enforce`)
    Generalise before suppressing, least analytically useful first; a row (with every row of the
    same student) is changed only while its class fails a set the step serves:

    ``student_years``
        1. global: race -> ``race_group``; gender identity -> 4 groups;
        2. local: region -> Ontario; birth year -> 3-year band -> 6-year band -> suppressed;
           region suppressed (no analysis reads birth year or home region);
        3. local: society -> its region (no report reads it from ``student_years``), gender
           identity suppressed, society region -> Ontario, race group suppressed;
        4. local: gender suppressed; a suppression completes each cell's small class of blanks
           with the cell's smallest other classes when that costs at most 3 values per value
           hidden, and a gender blanked in vain is given back;
        5. local: board -> its region, in ``eqao`` too (the board reports and models keep the
           board wherever its grade-year holds k);
        6. set by set, failing classes merged into the set's blank class (:func:`enforce_k`).
        The order repeats until every set holds (a change for one set can break another).
    ``cw_persons``
        1. global: gender identity -> 4 groups; 2. local: society -> its region;
        3. local: race -> race group; 4. local: birth year -> 3-year band; 5. local: region
        -> Ontario; 6. local: birth year -> 6-year band; 7. local suppression in
        ``SUPPRESSION_ORDER_CW``; then, for the join (:mod:`.linked`), ``study_id`` suppressed
        for every person with a joined class below k.

    ``risk.json`` records the threat model, the method, every step with the sets it serves and
    the values it changed, the measures before and after per set, the utility (shares keeping
    each quasi-identifier, before and after), and the check of every set on the tables as
    written (:mod:`.verify`): the stage writes nothing unless every enforced set holds there.

Modules
    :mod:`.stage` (``run``: read, build, check, write atomically); :mod:`.inputs` (what is read);
    :mod:`.keys` (the study key and pseudonyms); :mod:`.persons` (child-welfare persons as linkage
    resolved them); :mod:`.care` (care status by school year, days in care); :mod:`.geography`
    (postal code -> region); :mod:`.school` and :mod:`.child_welfare` (the tables);
    :mod:`.analytic` (all of them, with the risk report); :mod:`.contract` (tables and columns
    written); :mod:`.threat` (the threat model and quasi-identifier sets); :mod:`.policy`
    (column lists, suppression orders, the method in ``risk.json``); :mod:`.hierarchy` (the
    generalisation steps); :mod:`.anonymity` (measure, generalise, suppress one set) and
    :mod:`.enforce` (several sets together) on :mod:`.states` (a frame as its distinct row
    states); :mod:`.linked` (the joined view); :mod:`.verify` (every set on the tables as
    written); :mod:`.utility` (what generalisation kept); :mod:`.scan` (the identifier scan).
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
