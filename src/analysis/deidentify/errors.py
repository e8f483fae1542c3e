"""The one error of the de-identification stage."""

from __future__ import annotations


class DeidentifyError(ValueError):
    """The stage cannot run safely (missing key, missing input, ...)."""
