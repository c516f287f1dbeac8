"""Built-in feature interactions."""
