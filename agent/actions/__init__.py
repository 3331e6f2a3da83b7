"""Action types, one module each."""
