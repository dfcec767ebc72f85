"""The Dagster shell, one folder per area; each area's `definitions.py` returns its `dg.Definitions`."""
