"""Deterministic, atomic file output.

Every stage writes into a staging directory beside its target and swaps it in only when complete,
so an interrupted run never leaves half-written output (the previous output stays intact).
Parquet is written without statistics timestamps or random metadata, so the same data gives the
same bytes.
"""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

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


class ForeignFileError(ValueError):
    """A stage would replace a file the build did not write (a user's own file in its folder)."""


def _record_path(target: Path) -> Path:
    # Beside the other bookkeeping of the build (``DATA/.state``): never inside an output folder.
    return target.parent / ".state" / "files" / f"{target.name}.json"


def _stamp(path: Path) -> list[int]:
    st = path.lstat()
    return [st.st_size, st.st_mtime_ns]


def _entry(path: Path) -> list[int | str]:
    """What the record keeps of a file the build wrote: size, modification time, SHA-256."""
    digest = "" if path.is_symlink() else sha256_file(path)
    return [*_stamp(path), digest]


def _written(path: Path, entries: list[list[int | str]]) -> list[int | str] | None:
    """The record's entry of ``path`` if it is still the file the build wrote there: the same
    size and time, or (copied, touched) the same size and bytes."""
    size, mtime = _stamp(path)
    for e in entries:
        if e[:2] == [size, mtime]:
            return [size, mtime, *e[2:]]
    same_size = [e for e in entries if e[0] == size and len(e) > 2 and e[2]]
    if same_size and not path.is_symlink():
        digest = sha256_file(path)
        for e in same_size:
            if e[2] == digest:
                return [size, mtime, digest]
    return None


def _files(root: Path) -> list[Path]:
    """Every file (and symbolic link) below ``root``, sorted; folders are not entries."""
    return sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file())


def _read_record(record: Path) -> dict[str, list[list[int | str]]] | None:
    """``{relative path: [entry, ...]}`` of the files the build wrote (``None``: no record)."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return {str(k): [list(s) for s in v] for k, v in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_record(record: Path, files: dict[str, list[list[int | str]]]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps({"files": files}, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, record)


def _keep(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` as it is (a hard link: same bytes, same inode, same times)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_over(
    target: Path, staging: Path, rec: dict[str, list[list[int | str]]] | None, carry: bool
) -> tuple[set[str], dict[str, list[list[int | str]]]]:
    """Bring the files of ``target`` the build did not write into ``staging``.

    Returns the paths of those files and the record's entries of the build's own files.

    A file of ``target`` is the build's own when the record of the last swap lists it with the
    same size and modification time, or the same size and bytes (a copied folder); without a
    record (a folder written before records were kept), a file at a path the stage writes again
    is taken as its own. Any other file is the user's: it is kept as it is, and a stage that
    would write different bytes at its path is refused (:class:`ForeignFileError`), before
    anything is replaced.
    """
    foreign: set[str] = set()
    own: dict[str, list[list[int | str]]] = {}
    if not target.is_dir():
        return foreign, own
    conflicts: list[str] = []
    for p in _files(target):
        rel = p.relative_to(target).as_posix()
        new = staging / rel
        exists = new.is_symlink() or new.exists()
        if rec is not None:
            entry = _written(p, rec.get(rel, []))
        else:  # no record: the file at a path the stage writes again is taken as its own
            entry = [*_stamp(p), ""] if exists else None
        if entry is not None:
            own[rel] = [entry]
            if carry and not exists:  # a stage rewriting part of a folder keeps the rest
                _keep(p, new)
            continue
        if exists:
            same = (
                new.is_file()
                and not new.is_symlink()
                and p.is_file()
                and not p.is_symlink()
                and filecmp.cmp(p, new, shallow=False)
            )
            if not same:
                conflicts.append(rel)
                continue
            new.unlink()  # the same bytes: the user's file stays, untouched
        try:
            _keep(p, new)
        except OSError:  # e.g. the stage writes a file where the user has a folder
            conflicts.append(rel)
            continue
        foreign.add(rel)
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (
            f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        )
        raise ForeignFileError(
            f"{target}: {len(conflicts)} file(s) not written by the build (or changed since) "
            "would be replaced "
            f"({shown}); the build manages this folder: move them out of it (an extract of "
            "your own goes in a folder of its own, passed with --sources)"
        )
    return foreign, own


@contextlib.contextmanager
def atomic_dir(
    target: Path, *, record: Path | Literal[False] | None = None, carry: bool = False
) -> Iterator[Path]:
    """Yield a fresh staging directory; on success replace ``target`` with it.

    On any exception the staging directory is removed and ``target`` is untouched.

    The build never deletes or rewrites a file it did not create: the files of ``target`` it
    wrote are listed in a record beside the build's state (``record``, default
    ``PARENT/.state/files/NAME.json``), and any other file found in ``target`` (a user's notes,
    say) is carried into the new folder unchanged; a stage that would write different bytes at
    the path of such a file is refused with :class:`ForeignFileError` and nothing is replaced.
    The build's own files that the stage no longer writes are removed, unless ``carry`` (a stage
    rewriting only some files of a folder keeps the others). ``record=False``: a private folder
    of the build (a cache), replaced whole.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    rec_path = None if record is False else (record or _record_path(target))
    new: dict[str, list[list[int | str]]] = {}
    try:
        yield staging
        if rec_path is not None:
            foreign, own = _carry_over(target, staging, _read_record(rec_path), carry)
            new = {
                rel: [_entry(p)]
                for p in _files(staging)
                if (rel := p.relative_to(staging).as_posix()) not in foreign
            }
            # Until the swap is done, both the old and the new files are the build's own: a run
            # killed in between leaves a record that still recognises whichever is in place.
            both = {k: own.get(k, []) + new.get(k, []) for k in sorted({*own, *new})}
            _write_record(rec_path, both)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    if rec_path is not None:
        _write_record(rec_path, new)


def clean_stale_staging(parent: Path) -> None:
    """Remove staging/old directories left by a killed run."""
    if not parent.exists():
        return
    for p in parent.iterdir():
        if p.is_dir() and p.name.startswith(".") and (".staging-" in p.name or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)
