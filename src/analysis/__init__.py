"""Linked child-welfare and education records to trustworthy, accessible public reports."""

import warnings

# pandera probes for pyspark at import and pyspark warns about pandas 3; nothing here uses
# pyspark.pandas, so the warning is noise for every command.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

__version__ = "0.1.0"
