"""The one place that reads an MQTT URL and builds a paho client (agent and central).

``mqtt://user:pass@host:1883`` or ``mqtts://user:pass@host:8883`` (TLS), or ``none``.
For TLS, query parameters name the files: ``?ca=/etc/firefly/ca.crt`` (the broker's CA; the
system's CAs when absent), ``&cert=...&key=...`` for a client certificate (mutual TLS, with
Mosquitto's ``use_identity_as_username``), ``&insecure=1`` only for tests. User name and
password are percent-decoded. The password never appears in logs (``MqttUrl.safe``).

``?protocol=`` picks the MQTT version: ``5`` (the default: ``clean_start`` plus a session
expiry) or ``3.1.1`` for a broker that speaks only MQTT 3.1.1, such as the demo's embedded
fallback broker (then the session is always persistent, ``clean_session`` false, with no
expiry; central needs ``mqtt.shared_subscriptions = false`` there).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.settings import ConfigError

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
KEEPALIVE_SECONDS = 30
DEFAULT_PROTOCOL = "5"
# ?protocol= value -> paho's protocol constant
PROTOCOLS: dict[str, MQTTProtocolVersion] = {"5": MQTTProtocolVersion.MQTTv5,
                                             "3.1.1": MQTTProtocolVersion.MQTTv311}
PARAMETERS = ("ca", "cert", "key", "insecure", "protocol")


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    protocol: str = DEFAULT_PROTOCOL

    @property
    def safe(self) -> str:
        """The URL without its password, for logs."""
        user = f"{self.username}@" if self.username else ""
        version = "" if self.protocol == DEFAULT_PROTOCOL else f"?protocol={self.protocol}"
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}{version}"

    @property
    def mqtt5(self) -> bool:
        return PROTOCOLS[self.protocol] == MQTTProtocolVersion.MQTTv5


def parse_mqtt_url(url: str, *, setting: str = "mqtt.url", ca_file: str = "") -> MqttUrl | None:
    """The broker named by ``url``; None for ``none`` (sync off). ConfigError if malformed."""
    text = url.strip()
    if text.lower() in ("", "none", "off"):
        return None
    parts = urlparse(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"{setting}: expected mqtt://..., mqtts://... or none, got scheme "
                          f"{parts.scheme!r}")
    if not parts.hostname:
        raise ConfigError(f"{setting}: no host in the URL")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"{setting}: the port is not a number") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - set(PARAMETERS)
    if unknown:
        raise ConfigError(f"{setting}: unknown URL parameter {sorted(unknown)[0]!r}")
    if not tls and ({"ca", "cert", "key"} & set(query)):
        raise ConfigError(f"{setting}: TLS files given for a plain mqtt:// URL (use mqtts://)")
    if ("cert" in query) != ("key" in query):
        raise ConfigError(f"{setting}: a client certificate needs both cert and key")
    protocol = query.get("protocol", DEFAULT_PROTOCOL)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{setting}: unknown MQTT protocol {protocol!r} in ?protocol= "
                          f"(expected {' or '.join(PROTOCOLS)})")
    return MqttUrl(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        ca_file=query.get("ca") or ca_file or None,
        cert_file=query.get("cert"),
        key_file=query.get("key"),
        insecure=query.get("insecure", "") in ("1", "true", "yes"),
        protocol=protocol,
    )


def make_client(url: MqttUrl, client_id: str, *, will: tuple[str, bytes] | None = None) \
        -> mqtt.Client:
    """A paho 2.x client (not yet connected) for the URL's MQTT version (v5 unless the URL says
    ``?protocol=3.1.1``: then a persistent session), with credentials, TLS and will."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=PROTOCOLS[url.protocol],
                         clean_session=None if url.mqtt5 else False, reconnect_on_failure=True)
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    if url.tls:
        client.tls_set(ca_certs=url.ca_file, certfile=url.cert_file, keyfile=url.key_file,
                       cert_reqs=ssl.CERT_REQUIRED)
        if url.insecure:
            client.tls_insecure_set(True)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.max_inflight_messages_set(20)
    client.max_queued_messages_set(1000)
    return client


def connect_properties(session_expiry: int = SESSION_EXPIRY_SECONDS) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry
    return props


def connect(client: mqtt.Client, url: MqttUrl, *, clean_start: bool,
            session_expiry: int = SESSION_EXPIRY_SECONDS) -> None:
    """Start connecting in the background (paho retries until it succeeds).

    ``clean_start`` and ``session_expiry`` apply to MQTT 5 only; a 3.1.1 client keeps the
    persistent session that make_client gave it."""
    if not url.mqtt5:
        client.connect_async(url.host, url.port, keepalive=KEEPALIVE_SECONDS)
        return
    client.connect_async(url.host, url.port, keepalive=KEEPALIVE_SECONDS,
                         clean_start=clean_start,
                         properties=connect_properties(session_expiry))


def disconnect_saying(client: mqtt.Client, status: tuple[str, bytes] | None) -> None:
    """Disconnect cleanly, first publishing ``status`` (topic, payload: the retained
    "offline" that the will would otherwise say) when connected (``None``: not connected)."""
    if status is not None:
        info = client.publish(status[0], status[1], qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=2.0)
        except (RuntimeError, ValueError):  # the connection went meanwhile
            pass
    client.disconnect()
