"""Phase 2 of APIGen-MT: simulated human-agent trajectories around accepted blueprints, verified by replay.

Public API: `runner.run_phase2(blueprints, environment, client, settings, domain) -> Phase2Result`;
`models.Phase2Settings`; row builders in `rows` (`trajectory_attempt_rows`, `user_turn_candidate_rows`,
`trajectory_rows`); the simulated backend's roles in `simulated_roles.register_phase2_roles()`.
"""
