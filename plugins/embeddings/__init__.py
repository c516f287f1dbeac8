"""Built-in embeddings."""
