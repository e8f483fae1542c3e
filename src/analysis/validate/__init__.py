"""Validate the sources on read: file-level problems stop the build, bad rows are quarantined.

Rules (``docs/validation.md`` lists them with what the user sees):

- A file that is missing, not a file, empty, unreadable (truncated or corrupt parquet, a CSV that
  is not UTF-8, not comma-separated, ragged or cut short), or lacks a column, has an unexpected
  one, or holds a column of the wrong type is a *file-level* problem: a clear error naming the
  file, the column and the rule, a non-zero exit, and nothing downstream written.
- What common exports write differently (a whole number written 3.0, ``NULL`` or ``""`` for a
  missing value, a categorical parquet column, midnight timestamps with a time zone for dates,
  spaces around an id, a header in capitals, old Mac line endings) is read as documented and
  counted (:mod:`analysis.validate.normalise`); ``validation.reading: strict`` refuses it
  instead. What could be read two ways (a date written 03/04/2019) is refused, saying how to
  write it.
- A row that breaks a row rule (check digit, date range, allowed values, postal-code format,
  duplicate key, end before start, a reference to a record the extract lacks...) is quarantined
  with the rule it broke, if the configured policy allows it and if no more than
  ``validation.max_bad_row_share`` of the file's rows break rules; a larger share means the
  extract itself is wrong, and is a file-level problem.
- Every row is accounted for: rows in = rows passed on + rows quarantined.
- The reference tables an extract brings (``boards``, ``societies``) are checked like a source.

No message ever contains a value from the files (values are identifiers): only file names,
column names, rule names and counts. A header that looks like data (a CSV without a header row)
is reported without its cells.

Modules: :mod:`~analysis.validate.read` (finding and reading a file, file-level checks),
:mod:`~analysis.validate.normalise` (types and the normalisations), :mod:`~analysis.validate.stage`
(the stage: cross-table rules, quarantine, what is written).
"""

from __future__ import annotations

from analysis.validate.normalise import NORMALISATIONS, Normalisation, Reading
from analysis.validate.read import SourceFile, locate, read_source, read_source_file
from analysis.validate.stage import (
    REFERENCES,
    cross_table_problems,
    input_files,
    run,
    validate_frame,
    write_reference,
)

__all__ = [
    "NORMALISATIONS",
    "REFERENCES",
    "Normalisation",
    "Reading",
    "SourceFile",
    "cross_table_problems",
    "input_files",
    "locate",
    "read_source",
    "read_source_file",
    "run",
    "validate_frame",
    "write_reference",
]
