"""Views of results: terminal tables, progress, and files for sharing."""
