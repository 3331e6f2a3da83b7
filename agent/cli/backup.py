"""firefly-agent backup FILE | restore FILE | vacuum: the station database's care.

``backup`` uses SQLite's online backup API from a separate read-only connection: one step, one
consistent snapshot, safe while the agent runs (in WAL mode the engine keeps writing). The copy
is written beside FILE, checked, synced and renamed, so FILE is either the old file or a
complete new backup.

``restore`` refuses while the agent runs (it takes the agent's run lock), keeps the current
database as ``<db>.before-restore-<time>``, and copies FILE in with the same API, inside one
transaction of the destination: an interrupted restore leaves the old database whole.
Migrations run when the agent next starts, so a backup from an older version is upgraded then.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
from pathlib import Path
from typing import Any

from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, fail
from agent.config import AgentConfig
from agent.doctor import sqlite_file_ok
from agent.runlock import AgentRunning, RunLock, lock_path


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="copy the station database to FILE "
                                      "(safe while the agent runs)")
    p.add_argument("file")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="replace the station database with a backup "
                                       "(the agent must be stopped)")
    p.add_argument("file")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("vacuum", help="give free pages back to the file system and truncate "
                                      "the write-ahead log")
    p.add_argument("--full", action="store_true",
                   help="rebuild the whole file (the agent must be stopped)")
    p.set_defaults(func=cmd_vacuum)


def db_path(config: AgentConfig) -> Path:
    return Path(config.station.db.removeprefix("sqlite:///"))


def _connect_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=30)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_database(source: Path, target: Path) -> None:
    """Write a consistent, self-contained copy of ``source`` to ``target`` (atomically)."""
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        src = _connect_readonly(source)
        try:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)  # pages=-1: one step, one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            finally:
                dst.close()
        finally:
            src.close()
        problem = sqlite_file_ok(tmp)
        if problem is not None:
            raise sqlite3.DatabaseError(f"the copy does not pass quick_check: {problem}")
        os.chmod(tmp, 0o640)
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def cmd_backup(args: argparse.Namespace, config: AgentConfig) -> int:
    source, target = db_path(config), Path(args.file)
    if not source.exists():
        return fail(f"{source}: no station database to back up", EXIT_NOT_FOUND)
    if target.exists() and not args.force:
        return fail(f"{target}: exists (use --force to overwrite)", EXIT_USAGE)
    if not target.parent.is_dir():
        return fail(f"{target.parent}: no such directory", EXIT_USAGE)
    try:
        backup_database(source, target)
    except (sqlite3.Error, OSError) as exc:
        return fail(f"backup of {source} to {target} failed: {exc}", EXIT_FAILED)
    print(f"backed up {source} to {target} ({target.stat().st_size} bytes)")
    return EXIT_OK


def _is_station_database(path: Path) -> str | None:
    """None when ``path`` is a healthy SQLite file with the agent's tables, else why not."""
    problem = sqlite_file_ok(path)
    if problem is not None:
        return f"not a healthy SQLite database: {problem}"
    conn = _connect_readonly(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    if not {"schema_migration", "processes"} <= tables:
        return "not a Firefly station database (no schema_migration or processes table)"
    return None


def cmd_restore(args: argparse.Namespace, config: AgentConfig) -> int:
    source, db = Path(args.file), db_path(config)
    if not source.is_file():
        return fail(f"{source}: no such file", EXIT_NOT_FOUND)
    problem = _is_station_database(source)
    if problem is not None:
        return fail(f"{source}: {problem}", EXIT_INVALID)
    try:
        lock = RunLock(config.station.db).acquire()
    except AgentRunning as exc:
        return fail(f"restore refused: {exc}", EXIT_FAILED)
    try:
        kept = None
        if db.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = db.with_name(f"{db.name}.before-restore-{stamp}")
            backup_database(db, kept)
        db.parent.mkdir(parents=True, exist_ok=True)
        src = _connect_readonly(source)
        try:
            dst = sqlite3.connect(db, isolation_level=None, timeout=30)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        _give_to_data_dir_owner(db, kept)
    except (sqlite3.Error, OSError) as exc:
        return fail(f"restore of {source} into {db} failed: {exc}", EXIT_FAILED)
    finally:
        lock.release()
    if kept is not None:
        print(f"kept the previous database as {kept}")
    print(f"restored {db} from {source}; migrations run when the agent starts")
    return EXIT_OK


def _give_to_data_dir_owner(db: Path, kept: Path | None) -> None:
    """Run as root (sudo), files we created must belong to the service user, or it stops."""
    if os.geteuid() != 0:
        return
    st = db.parent.stat()
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), lock_path(str(db)), kept):
        if path is not None and path.exists():
            os.chown(path, st.st_uid, st.st_gid)


def cmd_vacuum(args: argparse.Namespace, config: AgentConfig) -> int:
    db = db_path(config)
    if not db.exists():
        return fail(f"{db}: no station database", EXIT_NOT_FOUND)
    lock = None
    if args.full:
        try:
            lock = RunLock(config.station.db).acquire()
        except AgentRunning as exc:
            return fail(f"vacuum --full refused: {exc}", EXIT_FAILED)
    try:
        return _vacuum(db, full=args.full)
    except sqlite3.Error as exc:
        return fail(f"vacuum of {db} failed: {exc}", EXIT_FAILED)
    finally:
        if lock is not None:
            lock.release()


def _vacuum(db: Path, *, full: bool) -> int:
    size_before = _file_size(db)
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        free_before = conn.execute("PRAGMA freelist_count").fetchone()[0]
        auto_vacuum = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
        if full:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")
        elif auto_vacuum == 2:
            # executescript steps the pragma to its end; execute() frees a single page.
            conn.executescript("PRAGMA incremental_vacuum;")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        free_after = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    print(f"{db}: {free_before - free_after} free pages released, "
          f"{size_before} -> {_file_size(db)} bytes (with -wal)")
    if busy:
        print("the write-ahead log is in use by a reader: it is truncated at a later checkpoint")
    if auto_vacuum != 2 and not full:
        print("this file has no incremental auto-vacuum: run 'firefly-agent vacuum --full' "
              "once with the agent stopped")
    return EXIT_OK


def _file_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
