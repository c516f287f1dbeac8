"""Planning, executing and isolating benchmark cases."""
