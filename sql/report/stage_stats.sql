SELECT stage, stats FROM stage_stats WHERE domain = ? AND batch = ? ORDER BY stage;
