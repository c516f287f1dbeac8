"""Built-in commands added through the ``register_commands`` hook."""
