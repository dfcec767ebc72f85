-- A table's fully qualified name and columns, for the Dagster UI (dagster/table_name, dagster/column_schema).
-- Parameter: table name.
SELECT current_database() || '.' || current_schema() || '.' || table_name AS qualified_name,
       column_name,
       data_type
FROM information_schema.columns
WHERE table_name = ? AND table_schema = current_schema() AND table_catalog = current_database()
ORDER BY ordinal_position;
