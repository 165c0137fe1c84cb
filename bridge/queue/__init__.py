"""Per-destination durable queues (SQLite WAL), their delivery workers and the dead-letter store."""
