"""Stages 1-2 (APIGen-MT Phase 1): task contexts, blueprints, committee votes, recombinations."""
