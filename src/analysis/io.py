"""Deterministic, atomic file output.

Every stage writes into a staging directory beside its target and swaps it in only when complete,
so an interrupted run never leaves half-written output (the previous output stays intact).
Parquet is written without statistics timestamps or random metadata, so the same data gives the
same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write ``df`` to ``path`` reproducibly (same frame, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path, compression="zstd", statistics=False, row_group_size=1_000_000)
    return path


def write_json(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` for every file below ``root`` (sorted)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh staging directory; on success replace ``target`` with it.

    On any exception the staging directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def clean_stale_staging(parent: Path) -> None:
    """Remove staging/old directories left by a killed run."""
    if not parent.exists():
        return
    for p in parent.iterdir():
        if p.is_dir() and p.name.startswith(".") and (".staging-" in p.name or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)
