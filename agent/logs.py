"""Structured logs to standard error (journald adds the time): ``level=... logger=... msg=...``."""

from __future__ import annotations

import json
import logging
import os
import sys


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line = f"level={record.levelname.lower()} logger={record.name} msg={json.dumps(message)}"
        if record.exc_info:
            line += f" exc={json.dumps(self.formatException(record.exc_info))}"
        return line


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("FIREFLY_LOG_LEVEL", level).upper())
    for noisy in ("peewee", "apscheduler", "meshtastic", "urllib3", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
