"""Health checks shared by ``firefly-agent doctor`` and ``firefly-central doctor``.

Each check looks at one thing and returns a :class:`Check`: a verdict (OK, WARN or FAIL), what
it found, and what to do about it. Checks only look: they never create, migrate or change
anything, and they never print a password (URLs are shown with :func:`redact_url`).
"""

from __future__ import annotations

import datetime as dt
import grp
import os
import shutil
import socket
import sqlite3
import ssl
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_FREE_BYTES = 500 * 1024 * 1024
MIN_FREE_FRACTION = 0.10
CRITICAL_FREE_BYTES = 50 * 1024 * 1024
MIN_YEAR = 2024


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def guarded(name: str, check: Callable[..., Check], *args: Any, **kwargs: Any) -> Check:
    """Run ``check``; a check that crashes is a FAIL naming the error, never a traceback."""
    try:
        return check(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - doctor reports every problem it meets
        return Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                     "report this with the output of the command")


def exit_code(checks: Iterable[Check]) -> int:
    """0 when no check failed, 1 otherwise."""
    return 1 if any(c.verdict == FAIL for c in checks) else 0


def render(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.verdict:<5} {c.name:<{width}}  {c.detail}")
        if c.fix and c.verdict != OK:
            lines.append(f"{'':<5} {'':<{width}}  -> {c.fix}")
    counts = {v: sum(1 for c in checks if c.verdict == v) for v in (FAIL, WARN, OK)}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


# --- radio --------------------------------------------------------------------------------

def check_radio(url: str, *, timeout: float = 5.0, probe: bool = True,
                in_use_by: int | None = None) -> Check:
    """``none``; ``tcp://host[:port]`` (a TCP connect); ``serial:///dev/X`` (exists, r/w)."""
    from agent.radio.url import parse_radio_url
    from agent.settings import ConfigError

    name = "radio"
    try:
        radio = parse_radio_url(url)
    except ConfigError as exc:
        return Check(name, FAIL, str(exc), "radio.url: serial:///dev/ttyUSB0, tcp://host:4403 "
                                           "or none")
    if radio is None:
        return Check(name, OK, "off (radio.url = none): processes run without the mesh")
    if radio.transport == "serial":
        return _check_serial(radio.target or "")
    if radio.transport == "ble":
        return Check(name, WARN, f"{url}: Bluetooth radios are not checked",
                     "prefer serial:// or tcp:// for a station that runs unattended")
    if not probe:
        return Check(name, OK, f"{radio}: not probed, the running agent (pid {in_use_by}) "
                               "holds the connection (older firmware accepts one client)")
    try:
        with socket.create_connection((radio.target or "", radio.port or 4403), timeout=timeout):
            pass
    except OSError as exc:
        return Check(name, FAIL, f"{radio}: cannot connect: {_reason(exc)}",
                     "check that the radio (or meshtasticd / firefly-sim) is on and that its "
                     "network API is enabled on this host and port")
    return Check(name, OK, f"{radio}: accepts connections")


def _check_serial(device: str) -> Check:
    name = "radio"
    if not device:
        return Check(name, FAIL, "serial URL without a device",
                     "radio.url: serial:///dev/ttyUSB0")
    path = Path(device)
    if not path.exists():
        found = sorted(str(p) for pattern in ("ttyUSB*", "ttyACM*")
                       for p in Path("/dev").glob(pattern))
        return Check(name, FAIL, f"{device}: no such device"
                                 f" (present: {', '.join(found) or 'none'})",
                     "plug the radio in (a data USB cable), or set radio.url to the device "
                     "listed; /dev/serial/by-id/... names stay stable across reboots")
    mode = path.stat().st_mode
    if not stat.S_ISCHR(mode):
        return Check(name, FAIL, f"{device}: not a character device", "radio.url: a tty device")
    if not os.access(path, os.R_OK | os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        group = _group_name(path.stat().st_gid)
        return Check(name, FAIL, f"{device}: not readable and writable by this user",
                     f"add the user to the device's group: sudo usermod -aG {group} $USER "
                     f"(the service has SupplementaryGroups={group})")
    return Check(name, OK, f"{device}: present, readable and writable")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


# --- broker -------------------------------------------------------------------------------

def check_broker(url: str, *, ca_file: str = "", timeout: float = 5.0,
                 client_id: str = "firefly-doctor") -> Check:
    """Connect to the MQTT broker with the sync's own client settings, then disconnect."""
    from agent.settings import ConfigError
    from agent.sync.connection import parse_mqtt_url

    name = "broker"
    try:
        parsed = parse_mqtt_url(url, ca_file=ca_file)
    except ConfigError as exc:
        return Check(name, FAIL, f"{redact_url(url)}: {exc}",
                     "mqtt.url: mqtt://user:pass@host:1883 or mqtts://user:pass@host:8883")
    if parsed is None:
        return Check(name, OK, "off (mqtt.url = none): nothing is synced with central")
    if parsed.ca_file and not Path(parsed.ca_file).is_file():
        return Check(name, FAIL, f"{parsed.safe}: CA file {parsed.ca_file}: no such file",
                     "copy the broker's CA certificate there (deploy/mosquitto/make-cert "
                     "wrote it as firefly-ca.crt), or fix mqtt.ca_file")
    result = _mqtt_connect(parsed, timeout=timeout, client_id=client_id)
    if result is None:
        return Check(name, OK, f"{parsed.safe}: connected and authenticated")
    fix = {
        "auth": "check the user and password in the URL; on the broker host "
                "deploy/mosquitto/add-station --rotate issues new credentials",
        "tls": "check mqtt.ca_file (the broker's CA certificate) and that the host name in the "
               "URL is one the broker's certificate names",
    }.get(result[0], "check that the broker runs and that host, port and firewall let this "
                     "machine in (TLS listener: 8883)")
    return Check(name, FAIL, f"{parsed.safe}: {result[1]}", fix)


def _mqtt_connect(url: Any, *, timeout: float, client_id: str) -> tuple[str, str] | None:
    """None when connected, else (kind, reason) with kind auth, tls or network."""
    from agent.sync.connection import make_client

    done = threading.Event()
    outcome: list[tuple[str, str] | None] = []

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not outcome:
            if reason.is_failure:
                kind = "auth" if reason.value in (0x86, 0x87, 0x8C) else "network"
                outcome.append((kind, f"refused by the broker: {reason}"))
            else:
                outcome.append(None)
        done.set()

    client = make_client(url, client_id)
    client.on_connect = on_connect
    client.connect_timeout = timeout
    try:
        client.connect(url.host, url.port, keepalive=max(5, int(timeout) + 1))
        client.loop_start()
        if not done.wait(timeout):
            return ("network", f"no answer within {timeout:g} s")
        return outcome[0]
    except (ssl.SSLError, ssl.CertificateError) as exc:
        return ("tls", f"TLS: {getattr(exc, 'reason', None) or exc}")
    except (OSError, ValueError) as exc:
        return ("network", f"cannot connect: {_reason(exc)}")
    finally:
        client.disconnect()
        client.loop_stop()


# --- database -----------------------------------------------------------------------------

def check_database(url: str, directories: Sequence[tuple[Path, str]], timeout: float = 5.0,
                   opener: Callable[[str], Any] | None = None) -> Check:
    """Open (SQLite: read-only), compare applied and known migrations, run ``quick_check``.

    ``opener`` opens a server database URL (default: agent.core.db.open_database).
    """
    from agent.core.db import open_database

    name = "database"
    is_sqlite = not url.startswith(("postgresql://", "postgres://"))
    path = Path(url.removeprefix("sqlite:///")) if is_sqlite else None
    if path is not None and not path.exists():
        return Check(name, WARN, f"{path}: not created yet", "it is created and migrated "
                     "when the service starts (or by any command that opens it)")
    shown = str(path) if path is not None else redact_url(url)
    try:
        if path is not None:
            db = _open_sqlite_readonly(path)
        else:
            db = (opener or open_database)(url)
            db.connect_params["connect_timeout"] = max(1, int(timeout))
        db.connect(reuse_if_open=True)
    except Exception as exc:  # noqa: BLE001 - any driver error is the verdict
        return Check(name, FAIL, f"{shown}: cannot open: {' '.join(str(exc).split())}",
                     "check the path / URL, that the server runs and the user may connect")
    try:
        pending, unknown = _migration_status(db, directories)
        problem = _quick_check(db) if path is not None else None
    except Exception as exc:  # noqa: BLE001 - a damaged file raises anywhere
        return Check(name, FAIL, f"{shown}: cannot read: {exc}", _RESTORE_FIX)
    finally:
        db.close()
    if problem is not None:
        return Check(name, FAIL, f"{shown}: integrity check failed: {problem}", _RESTORE_FIX)
    if unknown:
        return Check(name, FAIL, f"{shown}: migrations {', '.join(unknown)} are unknown to "
                                 "this version (the database is newer than the software)",
                     "upgrade the software (deploy/install-*), or restore a backup made by "
                     "this version")
    if pending:
        return Check(name, WARN, f"{shown}: {len(pending)} migration(s) pending: "
                                 f"{', '.join(pending)}",
                     "restart the service: migrations run when it starts")
    integrity = ", integrity ok" if path is not None else ""
    return Check(name, OK, f"{shown}: open, migrations up to date{integrity}")


_RESTORE_FIX = ("stop the service, keep the damaged file aside, and restore the latest backup "
                "(firefly-agent restore FILE)")


def _open_sqlite_readonly(path: Path) -> Any:
    from peewee import SqliteDatabase

    # mode=ro: doctor never writes; WAL readers still need the -shm file, which the service
    # user can create in its own data directory.
    return SqliteDatabase(f"file:{path.resolve()}?mode=ro", uri=True,
                          pragmas={"busy_timeout": 5000})


def _migration_status(db: Any, directories: Sequence[tuple[Path, str]]) \
        -> tuple[list[str], list[str]]:
    from playhouse.migrations import Runner

    pending: list[str] = []
    unknown: list[str] = []
    for directory, table in directories:
        for migration in Runner(db, str(directory), table_name=table).status():
            if migration.applied is None:
                pending.append(migration.name)
            elif migration.path is None:
                unknown.append(migration.name)
    return pending, unknown


def _quick_check(db: Any) -> str | None:
    rows = [r[0] for r in db.execute_sql("PRAGMA quick_check").fetchall()]
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows[:5])


def sqlite_file_ok(path: Path) -> str | None:
    """None when ``path`` is a readable SQLite database passing quick_check, else why not."""
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows[:5])


# --- disk, clock, permissions ---------------------------------------------------------------

def check_disk(directory: Path,
               usage: Callable[[Path], Any] = shutil.disk_usage) -> Check:
    """Free space where ``directory`` lives: WARN under 10 % or 500 MB, FAIL under 50 MB."""
    existing = _existing_ancestor(directory)
    du = usage(existing)
    free, total = int(du.free), int(du.total)
    fraction = free / total if total else 0.0
    detail = f"{directory}: {_size(free)} free of {_size(total)} ({fraction:.0%})"
    fix = ("free space: firefly-agent vacuum, lower retention.days or "
           "retention.max_executions, journalctl --vacuum-size=100M, remove old backups")
    if free < CRITICAL_FREE_BYTES:
        return Check("disk", FAIL, detail, fix)
    if free < MIN_FREE_BYTES or fraction < MIN_FREE_FRACTION:
        return Check("disk", WARN, detail, fix)
    return Check("disk", OK, detail)


def _size(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    return f"{n / 1024**2:.0f} MB"


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def timedatectl_synchronized() -> bool | None:
    """systemd's view of NTP synchronisation, or None when timedatectl cannot tell."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    if out.returncode != 0 or value not in ("yes", "no"):
        return None
    return value == "yes"


def check_clock(now: dt.datetime | None = None,
                synchronized: Callable[[], bool | None] = timedatectl_synchronized) -> Check:
    """WARN when the year is before 2024 (a Pi without RTC or network) or NTP is not synced."""
    now = now or dt.datetime.now(dt.UTC)
    shown = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    if now.year < MIN_YEAR:
        return Check("clock", WARN, f"{shown}: the clock is not set",
                     "connect the station to a network with NTP once, or add an RTC module; "
                     "schedules, time windows and ordering depend on the time")
    state = synchronized()
    if state is False:
        return Check("clock", WARN, f"{shown}: not synchronised (timedatectl)",
                     "check systemd-timesyncd or chrony and network access to NTP; "
                     "'timedatectl timesync-status' shows why")
    suffix = ", synchronised" if state else ""
    return Check("clock", OK, f"{shown}{suffix}")


def check_writable(directory: Path, files: Iterable[Path] = ()) -> Check:
    """The data directory (and the given files in it) can be written by this user."""
    name = "permissions"
    if not directory.exists():
        parent = _existing_ancestor(directory)
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Check(name, OK, f"{directory}: created on first start")
        return Check(name, FAIL, f"{directory}: does not exist and {parent} is not writable",
                     f"sudo install -d -o firefly -g firefly -m 750 {directory}")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(name, FAIL, f"{directory}: not writable: {_reason(exc)}",
                     f"sudo chown -R firefly:firefly {directory} (the service user)")
    owner = directory.stat().st_uid
    for path in files:
        if not path.exists():
            continue
        if not os.access(path, os.W_OK) or (os.geteuid() == 0 and path.stat().st_uid != owner):
            return Check(name, FAIL, f"{path}: not writable by the owner of {directory}",
                         f"sudo chown -R firefly:firefly {directory} (files restored or "
                         "created as root stop the service)")
    return Check(name, OK, f"{directory}: writable")
