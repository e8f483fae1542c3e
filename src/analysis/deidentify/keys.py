"""The study key and the pseudonyms made with it.

``study_id`` = HMAC-SHA256(key, "oen:" + OEN), ``cw_study_id`` = HMAC(key, "cw_person:" + id),
``case_study_id`` = HMAC(key, "case:" + id); hex, first 32 characters (schools are not
published, so no school pseudonym is made). Only the functions here read the secret: other modules pass the
:class:`StudyKey` along and get pseudonyms back; only its fingerprint is ever written.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from analysis.config import Privacy
from analysis.deidentify.errors import DeidentifyError

MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class StudyKey:
    """The secret key for pseudonyms; ``repr`` never shows it."""

    secret: bytes
    source: str  # "environment", "file" or "synthetic development key (derived from the seed)"

    def __repr__(self) -> str:
        return f"StudyKey(source={self.source!r}, fingerprint={self.fingerprint()!r})"

    @property
    def is_development(self) -> bool:
        return self.source.startswith("synthetic")

    def fingerprint(self) -> str:
        """HMAC of a fixed label: identifies the key in the manifest without revealing it."""
        return hmac.new(self.secret, b"analysis study-key fingerprint v1", "sha256").hexdigest()[
            :16
        ]


def load_key(privacy: Privacy, seed: int) -> StudyKey:
    """The study key from ``privacy.key_env`` or ``privacy.key_file`` (or a development key).

    Raises
    ------
    DeidentifyError
        When no key is given and development keys are not allowed, when the key file is missing,
        or when the key is shorter than 32 bytes. The message never contains the key.
    """
    raw: bytes | None = None
    source = ""
    env = os.environ.get(privacy.key_env)
    if env:
        raw, source = env.encode("utf-8"), "environment"
    elif privacy.key_file is not None:
        p = Path(privacy.key_file)
        if not p.is_file():
            raise DeidentifyError(f"{p}: study key file not found (privacy.key_file)")
        raw, source = p.read_bytes().rstrip(b"\r\n"), "file"
    if raw is None:
        if not privacy.synthetic_dev_key:
            raise DeidentifyError(
                f"no study key: set the environment variable {privacy.key_env} or "
                "privacy.key_file (at least 32 bytes); real data needs a secret key "
                "(privacy.synthetic_dev_key is false)"
            )
        raw = hashlib.sha256(f"analysis synthetic development key, seed {seed}".encode()).digest()
        source = "synthetic development key (derived from the seed)"
    if len(raw) < MIN_KEY_BYTES:
        where = privacy.key_env if source == "environment" else str(privacy.key_file)
        raise DeidentifyError(
            f"study key from {source} ({where}) is {len(raw)} bytes; at least "
            f"{MIN_KEY_BYTES} are required (rule: privacy key length)"
        )
    return StudyKey(raw, source)


def _hmac_digests(key: StudyKey, domain: str, values: list[str]) -> bytes:
    """The first 16 bytes of HMAC-SHA256(key, ``domain + ":" + value``) of each value, joined.

    HMAC (RFC 2104) computed with hashlib: the inner and outer SHA-256 states after the key's
    padded blocks (and the domain prefix) are computed once and copied per value, which is what
    ``hmac`` does too, minus its per-value Python object.
    """
    k = key.secret if len(key.secret) <= 64 else hashlib.sha256(key.secret).digest()
    k = k.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    inner.update(f"{domain}:".encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    inner_copy, outer_copy = inner.copy, outer.copy

    def one(v: str) -> bytes:
        i = inner_copy()
        i.update(v.encode())
        o = outer_copy()
        o.update(i.digest())
        return o.digest()[:16]

    return b"".join(map(one, values))


def _hex(digests: bytes, name: str = "hmac") -> pl.Series:
    """16-byte digests (joined) -> their 32-character lower-case hex strings."""
    return pl.Series(name, np.frombuffer(digests.hex().encode(), dtype="S32")).cast(pl.String)


def hmac_hex(key: StudyKey, domain: str, values: list[str]) -> pl.Series:
    """HMAC-SHA256 hex (first 32 characters) of ``domain + ":" + value`` for each value."""
    return _hex(_hmac_digests(key, domain, values))


def pseudonym(key: StudyKey, values: pl.Series, domain: str) -> pl.Series:
    """HMAC-SHA256 (hex, 32 characters) of each value, in the identifier space ``domain``.

    Nulls stay null. Computed once per distinct value.
    """
    uniq = values.drop_nulls().unique().cast(pl.String)
    hashed = hmac_hex(key, domain, uniq.to_list())
    return values.cast(pl.String).replace_strict(uniq, hashed, default=None, return_dtype=pl.String)


def student_ids(key: StudyKey, oens: list[pl.Series]) -> pl.DataFrame:
    """Every distinct OEN once: ``oen``, ``study_id`` and ``_eid``.

    ``_eid`` (u32) is the rank of the ``study_id`` string, so sorting on it sorts on the
    published ``study_id``; the large frames carry it instead of the 32-character hex.
    """
    uniq = pl.concat([s.drop_nulls().cast(pl.String) for s in oens]).unique()
    digests = _hmac_digests(key, "oen", uniq.to_list())
    # the hex string's order is the order of its 16 bytes read as two big-endian integers
    words = np.frombuffer(digests, dtype=">u8").reshape(-1, 2)
    order = pl.Series(np.lexsort((words[:, 1], words[:, 0])))
    ids = pl.DataFrame({"oen": uniq.gather(order), "study_id": _hex(digests).gather(order)})
    return ids.with_row_index("_eid")
