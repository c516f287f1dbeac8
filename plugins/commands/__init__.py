"""Built-in CLI commands."""
