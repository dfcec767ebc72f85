"""Phase 2 of APIGen-MT: simulated human-agent trajectories around accepted blueprints, verified by replay.

Public API: `runner.run_phase2(blueprints, environment, client, settings, domain) -> Phase2Result`;
`models.Phase2Settings`; row builders in `rows` (`trajectory_attempt_rows`, `user_turn_candidate_rows`,
`trajectory_rows`). The offline simulated backend plays its roles (human, critic, agent) from
`apigen_pipeline.simulated`, which this package never imports.
"""
