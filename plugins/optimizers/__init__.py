"""Built-in optimizer plugins."""
