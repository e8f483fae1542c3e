"""Postal geography: a pool of forward sortation areas (FSAs) per region, and postal codes kept
as compact integers until a table is built.

A postal code is the integer ``(region * 100 + fsa) * 2000 + ldu``: the region's index in
``REGIONS``, the FSA's index in the region's pool of 100 and the local delivery unit's index in
:data:`LDU`. The FSA pools are the ``fsas`` dict (region -> sorted array of 100 FSAs).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.domain.vocab import POSTAL_LETTERS, REGION_LETTER, REGIONS

_LETTERS = np.array(list(POSTAL_LETTERS))
LDU = np.array([f"{a}{b}{c}" for a in range(10) for b in _LETTERS for c in range(10)])
N_LDU = len(LDU)  # 2,000 local delivery units: digit, letter, digit


def fsa_pools(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """About 100 FSAs per region, drawn from the region's first letter (sorted)."""
    fsas = {}
    for reg in REGIONS:
        combos = [f"{REGION_LETTER[reg]}{d}{letter}" for d in range(10) for letter in _LETTERS]
        fsas[reg] = np.array(sorted(rng.choice(combos, size=100, replace=False)))
    return fsas


def postal_code_ints(rng: np.random.Generator, region_idx: np.ndarray) -> np.ndarray:
    """A random postal code in each region ``region_idx``, as an integer (compact for millions).

    :func:`postal_strings` and :func:`postal_series` turn the integers into ``"A1A 1A1"``.
    """
    n = len(region_idx)
    fsa_pick = rng.integers(0, 100, size=n)
    ldu_d1 = rng.integers(0, 10, size=n)
    ldu_l = rng.integers(0, len(_LETTERS), size=n)
    ldu_d2 = rng.integers(0, 10, size=n)
    fsa = np.asarray(region_idx, dtype=np.int64) * 100 + fsa_pick
    return fsa * N_LDU + (ldu_d1 * len(_LETTERS) + ldu_l) * 10 + ldu_d2


def _fsa_vocab(fsas: dict) -> np.ndarray:
    return np.concatenate([fsas[reg] for reg in REGIONS]).astype(str)


def postal_strings(codes: np.ndarray, fsas: dict) -> np.ndarray:
    """Integer postal codes to an object array of ``"A1A 1A1"`` strings (for small arrays)."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.char.add(np.char.add(_fsa_vocab(fsas)[codes // N_LDU], " "), LDU[codes % N_LDU])
    return out.astype(object)


def postal_series(name: str, codes: np.ndarray, fsas: dict) -> pl.Series:
    """Integer postal codes to a polars string column (for millions of rows)."""
    codes = np.asarray(codes, dtype=np.int64)
    return pl.select(
        pl.concat_str(
            [
                pl.Series(_fsa_vocab(fsas)).gather(pl.Series(codes // N_LDU)),
                pl.Series(LDU).gather(pl.Series(codes % N_LDU)),
            ],
            separator=" ",
        ).alias(name)
    ).to_series()


def postal_codes(rng: np.random.Generator, region_idx: np.ndarray, fsas: dict) -> np.ndarray:
    """A random postal code in each region ``region_idx``, as ``"A1A 1A1"`` strings."""
    return postal_strings(postal_code_ints(rng, region_idx), fsas)
