"""The generator's random streams: one per step, all spawned from the one seed.

Each step draws only from its own stream, so changing what one step draws does not shift the
draws of the others. The streams are spawned in the order of the fields below; that order, and
the order of the draws within each stream, are part of the output (same seed, same bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Streams:
    """One numpy generator per step of the simulation.

    ``pop`` also issues the OENs (after the population is drawn) and ``cases`` draws the OnLAC
    items before the family protection cases.
    """

    ref: np.random.Generator
    pop: np.random.Generator
    panel: np.random.Generator
    cw: np.random.Generator
    outcome: np.random.Generator
    eqao: np.random.Generator
    noise: np.random.Generator
    cases: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        """The eight streams spawned from ``SeedSequence(seed)``."""
        kids = np.random.SeedSequence(seed).spawn(8)
        return cls(*[np.random.default_rng(k) for k in kids])
