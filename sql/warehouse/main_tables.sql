-- Every base table of the opened database file (all schemas), for the integrity scan at open.
SELECT schema_name, table_name
FROM duckdb_tables()
WHERE database_name = current_database() AND NOT temporary
ORDER BY schema_name, table_name;
