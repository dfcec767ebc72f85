SELECT trajectory_id, blueprint_id, attempt_json
FROM trajectories
WHERE domain = ? AND batch = ?
ORDER BY blueprint_id, attempt_index;
