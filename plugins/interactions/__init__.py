"""Built-in interaction plugins."""
