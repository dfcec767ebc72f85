SELECT column_name, data_type
FROM information_schema.columns
WHERE table_name = ? AND table_schema = current_schema()
ORDER BY ordinal_position;
