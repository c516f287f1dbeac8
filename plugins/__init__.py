"""dlrmbench's built-in plugins (import name ``dlrmbench_plugins``).

Each module registers through the same hooks and entry-point group a third-party package uses.
"""
