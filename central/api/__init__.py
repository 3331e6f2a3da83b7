"""The API modules: each exposes ``register(app, ctx)`` (see central/api/_common.py)."""
