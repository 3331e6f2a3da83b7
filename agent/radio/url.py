"""Radio URLs: which Meshtastic transport the station uses.

- ``serial:///dev/ttyUSB0`` a radio on a serial port (``serial://`` alone: the one port found);
- ``tcp://host[:port]`` a WiFi/Ethernet node or meshtasticd (port 4403 by default);
- ``ble://name-or-address`` Bluetooth LE, where the platform has it;
- ``none`` no radio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from agent.settings import ConfigError

DEFAULT_TCP_PORT = 4403

Transport = Literal["serial", "tcp", "ble"]


@dataclass(frozen=True)
class RadioURL:
    transport: Transport
    target: str | None  # device path, host name, or BLE name/address; None: find one
    port: int | None = None  # TCP only

    def __str__(self) -> str:
        if self.transport == "tcp":
            return f"tcp://{self.target}:{self.port}"
        return f"{self.transport}://{self.target or ''}"


def parse_radio_url(url: str, setting: str = "radio.url") -> RadioURL | None:
    """Parse a radio URL; None for ``none``. Raises ConfigError naming the setting."""
    text = url.strip()
    if text.lower() in ("", "none"):
        return None
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigError(f"{setting}: {url!r} is not a radio URL (serial://, tcp://, ble:// "
                          "or none)")
    if scheme == "serial":
        path = unquote(rest)
        return RadioURL("serial", path or None)
    if scheme == "ble":
        name = unquote(rest).strip("/")
        return RadioURL("ble", name or None)
    if scheme == "tcp":
        parts = urlsplit(f"tcp://{rest}")
        try:
            port = parts.port or DEFAULT_TCP_PORT
        except ValueError:
            raise ConfigError(f"{setting}: {url!r} has an invalid port") from None
        if not parts.hostname:
            raise ConfigError(f"{setting}: {url!r} names no host")
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(f"{setting}: {url!r}: a tcp:// radio URL is host[:port] only")
        return RadioURL("tcp", parts.hostname, port)
    raise ConfigError(f"{setting}: unknown radio transport {scheme!r} in {url!r} "
                      "(serial, tcp, ble or none)")
