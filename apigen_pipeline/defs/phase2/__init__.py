"""Stage 3 (APIGen-MT Phase 2): verified trajectories."""
