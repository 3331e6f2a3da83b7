"""firefly-agent backup / restore / vacuum on a real station database, with the real agent
running beside them where that is the point."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.ops.ops_support import agent_env, run_agent, running_agent
from tests.support import wait_until

EVERY_SECOND = {
    "name": "Tick",
    "triggers": [{"trigger_type": "time_schedule", "trigger_config": {"interval_seconds": 1}}],
    "actions": [{"action_type": "log", "action_config": {"message": "tick"}}],
}


def count(db: Path, table: str = "process_executions") -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def pragma(db: Path, name: str) -> object:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_backup_while_running_restore_only_when_stopped(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    db = tmp_path / "station.db"
    (tmp_path / "tick.json").write_text(json.dumps(EVERY_SECOND))
    assert run_agent(env, "process", "import", str(tmp_path / "tick.json")).returncode == 0

    with running_agent(env, tmp_path / "agent.log") as agent:
        wait_until(lambda: count(db) >= 2, timeout=60, message="the agent to write executions")
        backups = []
        for i in range(3):
            before = count(db)
            target = tmp_path / f"backup-{i}.db"
            done = run_agent(env, "backup", str(target))
            assert done.returncode == 0, done.stderr
            assert f"to {target}" in done.stdout
            conn = sqlite3.connect(target)
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            copied = conn.execute("SELECT count(*) FROM process_executions").fetchone()[0]
            conn.close()
            assert before <= copied <= count(db)
            assert not Path(f"{target}-wal").exists()
            backups.append((target, copied))
        # The agent kept running and writing through the backups.
        later = count(db)
        wait_until(lambda: count(db) > later, timeout=60, message="more executions")
        assert agent.proc.poll() is None

        refused = run_agent(env, "restore", str(backups[0][0]))
        assert refused.returncode == 1
        assert f"in use by a running firefly-agent (pid {agent.proc.pid})" in refused.stderr
        assert count(db) >= later

    at_stop = count(db)
    restored = run_agent(env, "restore", str(backups[0][0]))
    assert restored.returncode == 0, restored.stderr
    assert count(db) == backups[0][1]
    kept = next(tmp_path.glob("station.db.before-restore-*"))
    assert count(kept) == at_stop
    assert pragma(db, "journal_mode") == "wal"

    # The restored database runs: the agent starts on it and goes on writing.
    with running_agent(env, tmp_path / "agent-2.log"):
        wait_until(lambda: count(db) > backups[0][1], timeout=60,
                   message="the agent to run on the restored database")


def test_restore_and_backup_refuse_bad_input(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    assert run_agent(env, "backup", str(tmp_path / "b.db")).returncode == 4  # no database yet
    assert run_agent(env, "process", "list").returncode == 0
    assert run_agent(env, "backup", str(tmp_path / "b.db")).returncode == 0
    exists = run_agent(env, "backup", str(tmp_path / "b.db"))
    assert exists.returncode == 2 and "--force" in exists.stderr
    assert run_agent(env, "backup", "--force", str(tmp_path / "b.db")).returncode == 0
    assert run_agent(env, "backup", str(tmp_path / "no" / "dir.db")).returncode == 2

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00not sqlite" * 500)
    assert run_agent(env, "restore", str(junk)).returncode == 3
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    done = run_agent(env, "restore", str(other))
    assert done.returncode == 3 and "not a Firefly station database" in done.stderr
    assert run_agent(env, "restore", str(tmp_path / "missing.db")).returncode == 4
    assert count(tmp_path / "station.db", "processes") == 0  # untouched


def test_restore_onto_a_new_sd_card(tmp_path: Path) -> None:
    """A station's card died: its last backup goes onto a fresh installation."""
    old = agent_env(tmp_path / "old")
    (tmp_path / "tick.json").write_text(json.dumps(EVERY_SECOND))
    assert run_agent(old, "process", "import", str(tmp_path / "tick.json")).returncode == 0
    assert run_agent(old, "backup", str(tmp_path / "last.db")).returncode == 0
    new = agent_env(tmp_path / "new")  # no database, not even the directory
    done = run_agent(new, "restore", str(tmp_path / "last.db"))
    assert done.returncode == 0, done.stderr
    assert "kept the previous" not in done.stdout
    listed = run_agent(new, "process", "list", "--json")
    assert [p["name"] for p in json.loads(listed.stdout)] == ["Tick"]


def _fill_and_empty(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany("INSERT INTO key_value (key, value) VALUES (?, ?)",
                             [(f"k{i}", json.dumps("x" * 3000)) for i in range(400)])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with conn:
            conn.execute("DELETE FROM key_value WHERE key LIKE 'k%'")
    finally:
        conn.close()


def disk_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_vacuum_gives_space_back(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    db = tmp_path / "station.db"
    assert run_agent(env, "process", "list").returncode == 0
    assert pragma(db, "auto_vacuum") == 2  # incremental, set when the file was created
    _fill_and_empty(db)
    assert int(pragma(db, "freelist_count")) > 300  # type: ignore[call-overload]
    size = disk_size(db)
    done = run_agent(env, "vacuum")
    assert done.returncode == 0, done.stderr
    assert "free pages released" in done.stdout
    assert pragma(db, "freelist_count") == 0
    assert disk_size(db) < size / 2
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def test_vacuum_full_converts_an_old_file_and_needs_the_agent_stopped(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    db = tmp_path / "station.db"
    assert run_agent(env, "process", "list").returncode == 0
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum=NONE")
    conn.execute("VACUUM")  # as files made before incremental auto-vacuum was set
    conn.close()
    _fill_and_empty(db)
    plain = run_agent(env, "vacuum")
    assert plain.returncode == 0 and "vacuum --full" in plain.stdout
    assert int(pragma(db, "freelist_count")) > 300  # type: ignore[call-overload]
    with running_agent(env, tmp_path / "agent.log"):
        refused = run_agent(env, "vacuum", "--full")
        assert refused.returncode == 1 and "in use by a running firefly-agent" in refused.stderr
        assert run_agent(env, "vacuum").returncode == 0  # the incremental one is fine
    full = run_agent(env, "vacuum", "--full")
    assert full.returncode == 0, full.stderr
    assert pragma(db, "auto_vacuum") == 2
    assert pragma(db, "freelist_count") == 0
