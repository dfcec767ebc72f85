DELETE FROM {table} WHERE domain = ? AND batch = ?;
