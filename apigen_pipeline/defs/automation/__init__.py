"""The batch job, its schedule and the backfill sensor."""
