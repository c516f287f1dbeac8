"""Result schema, atomic storage, loading into pandas, and statistics."""
