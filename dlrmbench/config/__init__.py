"""Suite configuration: pydantic models and the YAML loader."""
