"""The run lock: ``firefly-agent run`` holds it for as long as the station runs.

A lock file next to the station database (``<db>.lock``) is locked with ``flock`` and carries
the holder's pid. The kernel drops the lock when the process ends, however it ends, so a crash
or a power loss never leaves a stale lock behind. Commands that must not run beside a running
station (``restore``, ``vacuum --full``) take the same lock, or refuse while it is held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from agent.settings import ConfigError


class AgentRunning(ConfigError):
    """The station database is in use by a running agent (the message says which pid)."""


def lock_path(db: str) -> Path:
    """The lock file of the station database ``db`` (a path or ``sqlite:///path``)."""
    return Path(db.removeprefix("sqlite:///") + ".lock")


class RunLock:
    """An exclusive lock on a station database, held until ``release()`` or process exit."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.path = lock_path(db)
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise AgentRunning naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held beyond this call
        except PermissionError:  # created by another user: flock works on a read-only file
            handle = open(self.path, encoding="ascii")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(handle)
            handle.close()
            raise AgentRunning(
                f"{self.db}: in use by a running firefly-agent"
                f"{f' (pid {pid})' if pid else ''}; stop it first "
                f"(sudo systemctl stop firefly-agent)") from None
        if handle.writable():
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            if self._file.writable():
                self._file.seek(0)
                self._file.truncate()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(db: str) -> int | None:
    """The pid holding the run lock of ``db`` (-1 if unknown), or None when nobody holds it."""
    path = lock_path(db)
    try:
        handle = open(path, encoding="ascii")  # noqa: SIM115 - closed below
    except OSError:  # no lock file (or no directory): nobody holds it
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(handle) or -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def _read_pid(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None


_HELD: list[RunLock] = []


def hold_run_lock(db: str) -> RunLock:
    """Take the run lock of ``db`` for the rest of this process (``firefly-agent run``)."""
    lock = RunLock(db).acquire()
    _HELD.append(lock)
    return lock
