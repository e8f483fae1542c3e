"""The simulation: every step in order, each from its own random stream, and the province it
makes (:class:`Simulation`).

The two tables of one row per student-year (``onsis_enrolment`` and ``student_year_truth``,
12 million rows at the provincial scale) stay as compact arrays of integer codes and are built on
demand, whole or one school year at a time; every other table is built at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.config import Config
from analysis.domain.vocab import GRADES
from analysis.synthetic.care_status import student_year_truth, student_year_truth_frame
from analysis.synthetic.cases import protection_cases
from analysis.synthetic.child_welfare import child_welfare, onlac_assessments
from analysis.synthetic.codes import unique_sorted, vocab_series
from analysis.synthetic.noise import cw_records
from analysis.synthetic.oens import issue_oens, oen_series
from analysis.synthetic.outcomes import attendance_and_credits, eqao
from analysis.synthetic.panel import school_panel
from analysis.synthetic.population import GENDER_OF_CODE, last_name_series, population
from analysis.synthetic.postal import postal_series
from analysis.synthetic.reference import reference_tables
from analysis.synthetic.source_tables import (
    cpin_onlac,
    cpin_persons,
    cpin_placements,
    cpin_services,
    episode_records,
    eqao_results,
    person_truth,
)
from analysis.synthetic.streams import Streams

# What the two big tables still need of the people once the rest is built.
_PEOPLE_KEPT = ("first", "first_vocab", "sur1", "sur2", "surnames", "g", "birth_days")
# Compact integer types for the arrays of one entry per student-year (12 million at province).
_PANEL_TYPES = (
    ("sid", np.int32),
    ("yi", np.int8),
    ("gidx", np.int8),
    ("board", np.int16),
    ("pc", np.int32),
    ("school_no", np.int16),
    ("days_enrolled", np.int16),
)
FRAME_ORDER = (
    "reference/boards",
    "reference/societies",
    "sources/onsis_enrolment",
    "sources/eqao_results",
    "sources/cpin_persons",
    "sources/cpin_services",
    "sources/cpin_placements",
    "sources/cpin_cases",
    "sources/cpin_onlac",
    "truth/person_truth",
    "truth/student_year_truth",
)


@dataclass
class Simulation:
    """A simulated province: the small tables, and compact arrays for the two big ones."""

    frames: dict[str, pl.DataFrame]  # every table except onsis_enrolment and student_year_truth
    people: dict
    panel: dict
    truth: dict
    oen_of_sid: np.ndarray
    days_absent: np.ndarray
    credits: np.ndarray
    board_ids: np.ndarray
    fsas: dict
    school_years: tuple[str, ...]
    eqao_row: np.ndarray  # the panel row of each row of sources/eqao_results

    def n_rows(self) -> int:
        return len(self.panel["sid"])

    def year_rows(self, yi: int) -> np.ndarray:
        """Panel rows of school year ``yi`` (the panel is ordered by year)."""
        lo, hi = np.searchsorted(self.panel["yi"], [yi, yi + 1])
        return np.arange(lo, hi)

    def onsis(self, sel: np.ndarray | None = None) -> pl.DataFrame:
        """``onsis_enrolment`` rows ``sel`` of the panel (all when None), built column by column
        from integer codes (no numpy string or object arrays of millions of rows)."""
        panel, people = self.panel, self.people

        def pick(a: np.ndarray) -> np.ndarray:
            return a if sel is None else a[sel]

        sid = pick(panel["sid"]).astype(np.int64)
        board = pick(panel["board"]).astype(np.int64)
        school_vocab, n_no = self._school_vocab()
        school_code = (board * 2 + pick(panel["secondary"]).astype(np.int64)) * n_no + pick(
            panel["school_no"]
        ).astype(np.int64)
        return pl.DataFrame(
            [
                oen_series(self.oen_of_sid[sid]).alias("oen"),
                vocab_series("first_name", people["first_vocab"], people["first"][sid]),
                last_name_series("last_name", people, sid),
                pl.Series("birth_date", people["birth_days"][sid]).cast(pl.Date),
                vocab_series("gender", GENDER_OF_CODE, people["g"][sid]),
                postal_series("postal_code", pick(panel["pc"]), self.fsas),
                vocab_series("board_id", self.board_ids, board),
                vocab_series("school_id", school_vocab, school_code),
                vocab_series("school_year", self.school_years, pick(panel["yi"])),
                vocab_series("grade", GRADES, pick(panel["gidx"])),
                pl.Series("days_enrolled", pick(panel["days_enrolled"]).astype(np.int16)),
                pl.Series("days_absent", pick(self.days_absent).astype(np.int16)),
                pl.Series("credits_earned", pick(self.credits).astype(np.float64)),
            ]
        ).with_columns(pl.col("credits_earned").fill_nan(None))

    def _school_vocab(self) -> tuple[np.ndarray, int]:
        """School ids ``B01-E000``: a vocabulary over (board, level, number), and the count of
        numbers per board and level (the code is ``(board * 2 + secondary) * count + number``)."""
        school_no = self.panel["school_no"]
        n_no = int(school_no.max()) + 1 if len(school_no) else 1
        b_, lev_, no_ = np.meshgrid(
            np.arange(len(self.board_ids)), np.arange(2), np.arange(n_no), indexing="ij"
        )
        school_vocab = np.char.add(
            np.char.add(
                self.board_ids[b_.ravel()].astype(str), np.where(lev_.ravel() == 1, "-S", "-E")
            ),
            np.char.zfill(no_.ravel().astype(str), 3),
        )
        return school_vocab, n_no

    def student_year_truth(self, sel: np.ndarray | None = None) -> pl.DataFrame:
        """``student_year_truth`` rows ``sel`` of the panel (all when None)."""
        sid = self.panel["sid"] if sel is None else self.panel["sid"][sel]
        yi = self.panel["yi"] if sel is None else self.panel["yi"][sel]
        return student_year_truth_frame(
            self.truth,
            oen_series(self.oen_of_sid[sid]).alias("oen"),
            vocab_series("school_year", self.school_years, yi),
            sel,
        )


def generate_frames(cfg: Config) -> dict[str, pl.DataFrame]:
    """Generate every table in memory.

    Returns
    -------
    dict
        ``reference/boards``, ``reference/societies``, ``sources/<name>`` for the six identifiable
        tables and ``truth/person_truth``, ``truth/student_year_truth``; see the data contract.
    """
    sim = simulate(cfg)
    out = dict(sim.frames)
    out["sources/onsis_enrolment"] = sim.onsis()
    out["truth/student_year_truth"] = sim.student_year_truth()
    return {k: out[k] for k in FRAME_ORDER}


def simulate(cfg: Config) -> Simulation:
    """Run the simulation; the two tables of one row per student-year stay as compact arrays
    (:meth:`Simulation.onsis`, :meth:`Simulation.student_year_truth` build them, whole or by
    school year)."""
    s = Streams.from_seed(cfg.seed)
    boards, societies, fsas = reference_tables(s.ref)
    people = population(cfg, s.pop, boards)
    panel = school_panel(cfg, s.panel, people)
    oen_of_sid = issue_oens(s.pop, len(people["birth_year"]))
    child, episodes, placements = child_welfare(cfg, s.cw, people, panel, societies, fsas)
    truth = student_year_truth(cfg, panel, child, episodes, placements)
    board_eff = s.outcome.normal(0, 0.25, size=boards.height)
    days_absent, credits = attendance_and_credits(cfg, s.outcome, panel, truth, people)
    eq = eqao(cfg, s.eqao, panel, truth, board_eff, people)
    records = cw_records(cfg, s.noise, child, oen_of_sid, fsas, unique_sorted(panel["sid"]))
    # What the big tables still need of the people; the rest is freed.
    people = {k: people[k] for k in _PEOPLE_KEPT}
    del panel["fail_rate"]
    for k, t in _PANEL_TYPES:
        panel[k] = panel[k].astype(t)
    days_absent = days_absent.astype(np.int16)
    credits = credits.astype(np.float32)  # whole numbers 0-9 or NaN: exact in float32
    board_ids = boards["board_id"].to_numpy()
    eqao_frame = eqao_results(eq, panel, oen_of_sid, cfg.school_years, board_ids)
    eqao_row = eq["row"].to_numpy().astype(np.int32)
    del eq
    services = episode_records(records, episodes)
    # The cases stream draws the OnLAC items first, then the cases.
    onlac = cpin_onlac(onlac_assessments(cfg, s.cases, child, episodes), services)
    cases = protection_cases(cfg, s.cases, societies)
    frames = {
        "reference/boards": boards.drop("size_weight"),
        "reference/societies": societies.drop("size_weight"),
        "sources/eqao_results": eqao_frame,
        "sources/cpin_persons": cpin_persons(records, child),
        "sources/cpin_services": cpin_services(services),
        "sources/cpin_placements": cpin_placements(placements, services),
        "sources/cpin_cases": cases,
        "sources/cpin_onlac": onlac,
        "truth/person_truth": person_truth(records, child),
    }
    return Simulation(
        frames=frames,
        people=people,
        panel=panel,
        truth=truth,
        oen_of_sid=oen_of_sid,
        days_absent=days_absent,
        credits=credits,
        board_ids=board_ids,
        fsas=fsas,
        school_years=tuple(cfg.school_years),
        eqao_row=eqao_row,
    )
