"""Firefly Processes station agent."""
