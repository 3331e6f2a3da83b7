"""Central's settings: ``--config FILE`` (TOML) with FIREFLY_* environment overrides.

Loaded with the agent's generic loader (agent.settings); an unknown key or a wrong type is
refused with its dotted name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.settings import ConfigError, environ, load, setting

ENV = {
    "FIREFLY_DATABASE_URL": "database.url",
    "FIREFLY_LISTEN": "server.listen",
    "FIREFLY_MQTT": "mqtt.url",
    "FIREFLY_LOG_LEVEL": "server.log_level",
}


@dataclass(frozen=True)
class ServerSection:
    listen: str = setting("127.0.0.1:8080", "host:port the HTTP API listens on")
    threads: int = setting(8, "waitress worker threads")
    log_level: str = setting("info", "debug, info, warning or error")


@dataclass(frozen=True)
class DatabaseSection:
    url: str = setting("sqlite:///var/central.db",
                       "sqlite:///path, or postgresql://user@host/db (?schema=NAME optional)")
    migrate_on_start: bool = setting(True, "apply pending migrations when central starts")


@dataclass(frozen=True)
class MqttSection:
    url: str = setting("none", "mqtt://user:pass@host:port, mqtts://..., or none")
    shared_subscriptions: bool = setting(True, "subscribe through $share/central/... (false only "
                                               "for a broker without shared subscriptions, "
                                               "such as the demo's embedded MQTT 3.1.1 broker)")


@dataclass(frozen=True)
class AuthSection:
    session_hours: float = setting(12.0, "a browser session lasts this long")
    secure_cookie: bool = setting(False, "mark the session cookie Secure (behind HTTPS)")
    login_max_failures: int = setting(5, "failed logins per user name or address in the window")
    login_window_seconds: int = setting(300, "the window of the login rate limit")


@dataclass(frozen=True)
class EngineSection:
    enabled: bool = setting(True, "run processes assigned to station 'central' inside central")
    execute_timeout_seconds: float = setting(10.0, "wait this long for the central engine to "
                                                   "create a manual execution")


@dataclass(frozen=True)
class CommandsSection:
    expire_hours: float = setting(24.0, "a command not delivered to its station by then expires")


@dataclass(frozen=True)
class CentralSettings:
    server: ServerSection = field(default_factory=ServerSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    auth: AuthSection = field(default_factory=AuthSection)
    engine: EngineSection = field(default_factory=EngineSection)
    commands: CommandsSection = field(default_factory=CommandsSection)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"server.listen: expected host:port, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) \
        -> CentralSettings:
    settings = load(CentralSettings, path, environ() if env is None else env, ENV)
    parse_listen(settings.server.listen)
    url = settings.database.url
    if not (url.startswith(("sqlite:///", "postgresql://", "postgres://"))):
        raise ConfigError(f"database.url: expected sqlite:///path or postgresql://..., "
                          f"got {url!r}")
    return settings
