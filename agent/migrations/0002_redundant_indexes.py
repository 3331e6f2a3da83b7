"""Drop two indexes that others already cover: every row written paid for them.

- ``processexecution_process_id`` (process_id): the index on (process_id, started_at) answers
  the same lookups.
- ``processexecutionlog_execution_id`` (execution_id): the unique index on
  (execution_id, seq) answers the same lookups.
"""


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index("process_executions", "processexecution_process_id"),
        migrator.drop_index("process_execution_logs", "processexecutionlog_execution_id"),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.add_index("process_executions", ("process_id",), False),
        migrator.add_index("process_execution_logs", ("execution_id",), False),
    )
