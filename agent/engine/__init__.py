"""The process engine: events in, executions out. See docs/architecture.md."""
