"""Run G-Confid on files the project writes: ``python run.py audit|suppress IN_DIR OUT_DIR``.

Runs in this folder's own environment (``uv sync --locked --project tools/gconfid``), never in the
project's. Reads ``IN_DIR/incell.parquet`` and ``IN_DIR/inconstraint.parquet`` (G-Confid's own
input tables, written by ``analysis.disclosure.gconfid``) and writes ``OUT_DIR/outaudit.parquet``
(Auditing) or ``OUT_DIR/outsuppress.parquet`` (Suppression), plus ``OUT_DIR/run.json`` (version,
seconds). Processing groups: the ``Group`` column (independent parts of the release).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq


def main(argv: list[str]) -> int:
    mode, src, dst = argv[1], Path(argv[2]), Path(argv[3])
    import gconfid  # imported here: it logs on import

    dst.mkdir(parents=True, exist_ok=True)
    incell = pq.read_table(src / "incell.parquet")
    inconstraint = pq.read_table(src / "inconstraint.parquet")
    quiet = logging.getLogger("gconfid-quiet")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    t0 = time.perf_counter()
    if mode == "audit":
        out = gconfid.Auditing(
            incell=incell, inconstraint=inconstraint, by="Group", logger=quiet
        ).outaudit
        pq.write_table(out, dst / "outaudit.parquet")
    elif mode == "suppress":
        params = json.loads((src / "params.json").read_text()) if (src / "params.json").exists() else {}
        out = gconfid.Suppression(
            incell=incell, inconstraint=inconstraint, by="Group", logger=quiet, **params
        ).outsuppress
        pq.write_table(out, dst / "outsuppress.parquet")
    else:
        raise SystemExit(f"mode must be audit or suppress, not {mode!r}")
    run = {"gconfid": gconfid.__version__, "mode": mode, "seconds": time.perf_counter() - t0}
    (dst / "run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
