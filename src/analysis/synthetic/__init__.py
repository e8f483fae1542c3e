"""A synthetic Ontario: the three identifiable sources and their ground truth.

The generator builds, in this order (each step its own random stream spawned from the one seed,
so changing one step does not shift the others; :mod:`~analysis.synthetic.streams`):

1. reference tables (:mod:`~analysis.synthetic.reference`, :mod:`~analysis.synthetic.postal`):
   72 school boards (31 English public, 29 English Catholic, 4 French public, 8 French
   Catholic), 50 children's aid societies (13 Indigenous, 3 faith-based) and the FSAs of each
   region;
2. households of siblings (shared surname and postal code, some twins) and their moves
   (:mod:`~analysis.synthetic.population`), the OEN of each person
   (:mod:`~analysis.synthetic.oens`), and a panel of students enrolled 2017-18 to 2022-23
   (grade progression, repetition, entry and exit; :mod:`~analysis.synthetic.panel`);
3. children with child-welfare involvement, their service episodes and placements and OnLAC
   caregiver-relationship items (:mod:`~analysis.synthetic.child_welfare`), and family
   protection cases (:mod:`~analysis.synthetic.cases`);
4. the latent care status of each student-year (:mod:`~analysis.synthetic.care_status`), and
   outcomes drawn from it with the planted effects of ``Config.effects``
   (:mod:`~analysis.synthetic.outcomes`, :mod:`~analysis.synthetic.effects`; the exact model is
   in ``docs/data-contract.md``);
5. child-welfare records with identifier noise at the configured rates (BRIEF.md s.8), and the
   truth table saying which record is which student (:mod:`~analysis.synthetic.noise`,
   :mod:`~analysis.synthetic.source_tables`).

:func:`simulate` runs the steps (:mod:`~analysis.synthetic.simulation`); :func:`generate` is the
stage that writes the tables, the codebook (:mod:`~analysis.synthetic.codebook`) and the planted
effects (:mod:`~analysis.synthetic.stage`).

Everything is vectorised (numpy + polars) so the provincial scale (about 12 million
student-years) runs in minutes on one small machine.
"""

from __future__ import annotations

from analysis.domain.dates import school_year_bounds
from analysis.synthetic.effects import planted_effects
from analysis.synthetic.simulation import generate_frames, simulate
from analysis.synthetic.stage import generate, read_source

__all__ = [
    "generate",
    "generate_frames",
    "planted_effects",
    "read_source",
    "school_year_bounds",
    "simulate",
]
