SELECT * FROM {table} WHERE domain = ? AND batch = ?;
