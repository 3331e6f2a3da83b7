"""Trigger types, one module each."""
