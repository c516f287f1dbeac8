"""Built-in plugin commands."""
