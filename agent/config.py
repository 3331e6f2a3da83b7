"""The agent's settings: ``--config FILE`` (TOML) with FIREFLY_* environment overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.engine.engine import EngineSettings
from agent.settings import ConfigError, environ, load, setting

ENV = {
    "FIREFLY_STATION_ID": "station.id",
    "FIREFLY_DB": "station.db",
    "FIREFLY_RADIO": "radio.url",
    "FIREFLY_MQTT": "mqtt.url",
    "FIREFLY_LOG_LEVEL": "station.log_level",
    "FIREFLY_TIMEZONE": "station.timezone",
}


@dataclass(frozen=True)
class StationSection:
    id: str = setting("station-1", "this station's id: letters, digits, '.', '_' or '-'")
    db: str = setting("var/agent.db", "path of the station's SQLite database")
    log_level: str = setting("info", "debug, info, warning or error")
    timezone: str = setting("UTC", "the local time zone, for schedules and time windows")


@dataclass(frozen=True)
class EngineSection:
    max_chain_depth: int = setting(4, "events caused by processes are followed this deep")
    rate_limit_per_minute: int = setting(120, "starts of one process per minute before it "
                                              "is paused automatically")
    max_concurrent_executions: int = setting(32, "executions running at once")
    execution_timeout_seconds: float = setting(3600.0, "an execution's total time limit")
    max_steps: int = setting(200, "attempts in one execution")
    alert_on_failure: bool = setting(True, "a failed execution raises a system alert")
    retry_backoff_seconds: float = setting(1.0, "first retry back-off, doubled each attempt")

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            max_chain_depth=self.max_chain_depth,
            rate_limit_per_minute=self.rate_limit_per_minute,
            max_concurrent_executions=self.max_concurrent_executions,
            execution_timeout_seconds=self.execution_timeout_seconds,
            max_steps=self.max_steps,
            alert_on_failure=self.alert_on_failure,
            retry_backoff_seconds=self.retry_backoff_seconds,
        )


@dataclass(frozen=True)
class RadioSection:
    url: str = setting("none", "serial:///dev/ttyUSB0, tcp://host:4403, ble://name or none")
    region: str = setting("EU_868", "LoRa region (duty cycle)")
    modem_preset: str = setting("LONG_FAST", "modem preset, for airtime")
    send_interval_seconds: float = setting(3.0, "at most one text per interval")
    duty_cycle_percent: float = setting(0.0, "airtime budget per rolling hour; 0: the region's")
    want_ack: bool = setting(True, "ask for routing acknowledgements of direct messages")
    offline_after_seconds: int = setting(2700, "a node not heard this long is offline")
    command_nodes: list[str] = setting([], "node ids allowed to send !run and !status")


@dataclass(frozen=True)
class MqttSection:
    url: str = setting("none", "mqtt://user:pass@host:port, mqtts://..., or none")
    heartbeat_seconds: int = setting(30, "interval of the health heartbeat")
    batch_size: int = setting(200, "outbox records per batch")
    ca_file: str = setting("", "CA certificate for mqtts://")


@dataclass(frozen=True)
class RetentionSection:
    days: int = setting(30, "finished executions older than this are pruned")
    max_executions: int = setting(20000, "keep at most this many finished executions")


@dataclass(frozen=True)
class MetricsSection:
    listen: str = setting("", "host:port of the Prometheus metrics endpoint, e.g. "
                              "127.0.0.1:9108; empty: off")

    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to listen on, or None when off; a bad value is a ConfigError."""
        if self.listen == "":
            return None
        host, sep, port = self.listen.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"metrics.listen: expected host:port such as 127.0.0.1:9108 "
                              f"(or empty: off), got {self.listen!r}")
        return host, int(port)


@dataclass(frozen=True)
class AgentConfig:
    station: StationSection = field(default_factory=StationSection)
    engine: EngineSection = field(default_factory=EngineSection)
    radio: RadioSection = field(default_factory=RadioSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> AgentConfig:
    config = load(AgentConfig, path, environ() if env is None else env, ENV)
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", config.station.id):
        raise ConfigError(f"station.id: {config.station.id!r} is not a valid station id")
    config.metrics.address()  # refuses a bad metrics.listen at start-up
    return config
