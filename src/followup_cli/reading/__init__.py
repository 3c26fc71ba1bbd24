"""Reading the exports (SPEC 2 and 6): finding the files, fingerprinting them, reading CSV and
Parquet, validating every row, and one pass of read, validate and reconcile.
Imports the core only."""
