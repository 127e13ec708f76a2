"""Storage behind the narrow Store protocol (SQLite by default)."""
