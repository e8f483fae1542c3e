"""Linked child-welfare and education records to trustworthy, accessible public reports."""

import sys
import warnings

# pandera probes for pyspark at import and pyspark warns about pandas 3; nothing here uses
# pyspark.pandas, so the warning is noise for every command.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

# jsonschema (imported by nbformat, papermill and altair) loads ``rfc3987_syntax`` when it is
# installed (JupyterLab brings it in), and that module compiles ~40 Earley grammars at import:
# about 2 s in every process (stage, render worker, kernel; python-jsonschema/jsonschema#1428).
# It only serves the "iri"/"iri-reference" formats, which no schema used here declares;
# jsonschema treats a format it has no checker for as valid, exactly as without the package.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
