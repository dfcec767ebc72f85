"""Staged blueprint validation, one evaluator per check, each returning a `StageVerdict`."""
