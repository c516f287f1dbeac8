"""Built-in CLI commands, added through the ``register_commands`` hook."""
