"""Builders for the Meshtastic protobuf messages the simulated radios send.

Everything here is pure: it turns plain values into ``FromRadio``/``MeshPacket``
protobufs (``meshtastic.protobuf``, untyped, hence ``Any``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from meshtastic.protobuf import (
    channel_pb2,
    config_pb2,
    mesh_pb2,
    module_config_pb2,
    portnums_pb2,
    telemetry_pb2,
)

from firefly_sim.model import MeshSettings, StationIdentity, VirtualNode, node_id

PortNum = portnums_pb2.PortNum

TEXT_MESSAGE_APP: int = PortNum.TEXT_MESSAGE_APP
POSITION_APP: int = PortNum.POSITION_APP
NODEINFO_APP: int = PortNum.NODEINFO_APP
ROUTING_APP: int = PortNum.ROUTING_APP
TELEMETRY_APP: int = PortNum.TELEMETRY_APP
WAYPOINT_APP: int = PortNum.WAYPOINT_APP
ALERT_APP: int = PortNum.ALERT_APP

#: want_config_id nonces of recent firmware: config only / node database only.
NONCE_ONLY_CONFIG = 69420
NONCE_ONLY_NODES = 69421

FIRMWARE_VERSION = "2.7.11.firefly-sim"
QUEUE_MAXLEN = 16
MAX_CHANNELS = 8


def portnum_name(portnum: int) -> str:
    try:
        return str(PortNum.Name(portnum))
    except ValueError:
        return f"PORT_{portnum}"


def routing_error_name(code: int) -> str:
    return str(mesh_pb2.Routing.Error.Name(code))


def routing_error_code(name: str) -> int:
    return int(mesh_pb2.Routing.Error.Value(name))


def _enum_value(enum: Any, name: str, default: str) -> int:
    try:
        return int(enum.Value(name))
    except ValueError:
        return int(enum.Value(default))


def user_pb(num: int, long_name: str, short_name: str, hw_model: str = "TBEAM", role: str = "CLIENT") -> Any:
    return mesh_pb2.User(
        id=node_id(num),
        long_name=long_name,
        short_name=short_name,
        hw_model=_enum_value(mesh_pb2.HardwareModel, hw_model, "UNSET"),
        role=_enum_value(config_pb2.Config.DeviceConfig.Role, role, "CLIENT"),
    )


def position_pb(lat: float, lon: float, altitude: int = 0, at: float | None = None) -> Any:
    return mesh_pb2.Position(
        latitude_i=round(lat * 1e7),
        longitude_i=round(lon * 1e7),
        altitude=int(altitude),
        time=int(at if at is not None else time.time()),
        location_source=mesh_pb2.Position.LocSource.LOC_INTERNAL,
        precision_bits=32,
    )


def telemetry_pb(battery: int, voltage: float, uptime_s: int, at: float | None = None) -> Any:
    return telemetry_pb2.Telemetry(
        time=int(at if at is not None else time.time()),
        device_metrics=telemetry_pb2.DeviceMetrics(
            battery_level=max(0, min(101, int(battery))),
            voltage=float(voltage),
            channel_utilization=3.5,
            air_util_tx=0.4,
            uptime_seconds=max(0, uptime_s),
        ),
    )


def virtual_node_info(node: VirtualNode, hop_limit: int) -> Any:
    info = mesh_pb2.NodeInfo(
        num=node.num,
        user=user_pb(node.num, node.long_name, node.short_name, node.hw_model, node.role),
        position=position_pb(node.lat, node.lon, node.altitude, node.last_heard or None),
        device_metrics=telemetry_pb2.DeviceMetrics(
            battery_level=max(0, min(101, node.battery)), voltage=node.effective_voltage
        ),
        last_heard=int(node.last_heard),
        snr=node.snr if node.snr is not None else 6.0,
    )
    info.hops_away = max(0, min(node.hops, hop_limit))
    return info


def station_node_info(station: StationIdentity, is_self: bool) -> Any:
    info = mesh_pb2.NodeInfo(
        num=station.num,
        user=user_pb(station.num, station.long_name, station.short_name, "PORTDUINO", "CLIENT"),
        device_metrics=telemetry_pb2.DeviceMetrics(battery_level=101, voltage=4.2),
        last_heard=int(time.time()),
        is_favorite=is_self,
    )
    if station.lat is not None and station.lon is not None:
        info.position.CopyFrom(position_pb(station.lat, station.lon, station.altitude))
    if not is_self:
        info.hops_away = 0
    return info


def _config_messages(settings: MeshSettings) -> list[Any]:
    Config = config_pb2.Config
    lora = Config.LoRaConfig(
        use_preset=True,
        modem_preset=_enum_value(Config.LoRaConfig.ModemPreset, settings.modem_preset, "LONG_FAST"),
        region=_enum_value(Config.LoRaConfig.RegionCode, settings.region, "UNSET"),
        hop_limit=settings.hop_limit,
        tx_enabled=True,
        tx_power=27,
        override_duty_cycle=not settings.enforce_duty_cycle,
    )
    configs = [
        Config(device=Config.DeviceConfig(role=Config.DeviceConfig.Role.CLIENT)),
        Config(position=Config.PositionConfig(position_broadcast_secs=900)),
        Config(power=Config.PowerConfig(ls_secs=300)),
        Config(network=Config.NetworkConfig(wifi_enabled=False, eth_enabled=True)),
        Config(display=Config.DisplayConfig(screen_on_secs=60)),
        Config(lora=lora),
        Config(bluetooth=Config.BluetoothConfig(enabled=False)),
        Config(security=Config.SecurityConfig(serial_enabled=True)),
    ]
    return [mesh_pb2.FromRadio(config=c) for c in configs]


def _module_config_messages(telemetry_interval: int) -> list[Any]:
    MC = module_config_pb2.ModuleConfig
    modules = [
        MC(mqtt=MC.MQTTConfig(enabled=False)),
        MC(serial=MC.SerialConfig(enabled=False)),
        MC(external_notification=MC.ExternalNotificationConfig(enabled=False)),
        MC(store_forward=MC.StoreForwardConfig(enabled=False)),
        MC(range_test=MC.RangeTestConfig(enabled=False)),
        MC(telemetry=MC.TelemetryConfig(device_update_interval=max(0, telemetry_interval))),
        MC(canned_message=MC.CannedMessageConfig(enabled=False)),
        MC(neighbor_info=MC.NeighborInfoConfig(enabled=False)),
    ]
    return [mesh_pb2.FromRadio(moduleConfig=m) for m in modules]


def _channel_messages(settings: MeshSettings) -> list[Any]:
    Channel = channel_pb2.Channel
    out = []
    for index in range(MAX_CHANNELS):
        if index < len(settings.channels):
            role = Channel.Role.PRIMARY if index == 0 else Channel.Role.SECONDARY
            ch = Channel(
                index=index,
                role=role,
                settings=channel_pb2.ChannelSettings(
                    name=settings.channels[index], psk=b"\x01" if index == 0 else b""
                ),
            )
            if index:
                # Secondary channels need their own key; a fixed one is fine here.
                ch.settings.psk = bytes(range(index, index + 16))
        else:
            ch = Channel(index=index, role=Channel.Role.DISABLED)
        out.append(mesh_pb2.FromRadio(channel=ch))
    return out


def handshake_messages(
    nonce: int,
    station: StationIdentity,
    settings: MeshSettings,
    other_nodes: Iterable[Any],
    telemetry_interval: int = 900,
) -> list[Any]:
    """The ``FromRadio`` sequence answering ``want_config_id = nonce``.

    Real firmware order: my_info, own node_info, metadata, 8 channels, config
    sections, module configs, other node_infos, config_complete_id.  Nonce 69420
    skips the other nodes, 69421 sends only the node database.
    """
    msgs: list[Any] = []
    own = mesh_pb2.FromRadio(node_info=station_node_info(station, is_self=True))
    if nonce != NONCE_ONLY_NODES:
        msgs.append(
            mesh_pb2.FromRadio(
                my_info=mesh_pb2.MyNodeInfo(
                    my_node_num=station.num,
                    reboot_count=1,
                    min_app_version=30200,
                    pio_env="native",
                )
            )
        )
    msgs.append(own)
    if nonce != NONCE_ONLY_NODES:
        msgs.append(
            mesh_pb2.FromRadio(
                metadata=mesh_pb2.DeviceMetadata(
                    firmware_version=FIRMWARE_VERSION,
                    device_state_version=24,
                    canShutdown=True,
                    hasWifi=False,
                    hasBluetooth=False,
                    hasEthernet=True,
                    role=config_pb2.Config.DeviceConfig.Role.CLIENT,
                    hw_model=mesh_pb2.HardwareModel.PORTDUINO,
                )
            )
        )
        msgs.extend(_channel_messages(settings))
        msgs.extend(_config_messages(settings))
        msgs.extend(_module_config_messages(telemetry_interval))
    if nonce != NONCE_ONLY_CONFIG:
        msgs.extend(mesh_pb2.FromRadio(node_info=info) for info in other_nodes)
    msgs.append(mesh_pb2.FromRadio(config_complete_id=nonce))
    return msgs


def mesh_packet(
    from_num: int,
    to_num: int,
    portnum: int,
    payload: bytes,
    packet_id: int,
    channel: int = 0,
    rx_snr: float = 0.0,
    rx_rssi: int = 0,
    hop_start: int = 3,
    hop_limit: int = 3,
    want_ack: bool = False,
    request_id: int = 0,
    priority: int = 0,
    rx_time: float | None = None,
) -> Any:
    """A received ``MeshPacket`` as a radio hands it to its client."""
    pkt = mesh_pb2.MeshPacket(
        to=to_num,
        channel=channel,
        id=packet_id,
        rx_time=int(rx_time if rx_time is not None else time.time()),
        rx_snr=rx_snr,
        rx_rssi=rx_rssi,
        hop_start=hop_start,
        hop_limit=max(0, hop_limit),
        want_ack=want_ack,
        priority=priority,
        decoded=mesh_pb2.Data(portnum=portnum, payload=payload, request_id=request_id),
    )
    setattr(pkt, "from", from_num)  # "from" is a Python keyword
    return pkt


def routing_packet(
    from_num: int,
    to_num: int,
    request_id: int,
    error_reason: str,
    packet_id: int,
    channel: int = 0,
    rx_snr: float = 0.0,
    rx_rssi: int = 0,
    hop_start: int = 3,
    hop_limit: int = 3,
) -> Any:
    """An ACK (``error_reason="NONE"``) or NAK for packet ``request_id``."""
    routing = mesh_pb2.Routing(error_reason=routing_error_code(error_reason))
    return mesh_packet(
        from_num,
        to_num,
        ROUTING_APP,
        routing.SerializeToString(),
        packet_id,
        channel=channel,
        rx_snr=rx_snr,
        rx_rssi=rx_rssi,
        hop_start=hop_start,
        hop_limit=hop_limit,
        request_id=request_id,
        priority=mesh_pb2.MeshPacket.Priority.ACK,
    )


def from_radio_packet(packet: Any) -> Any:
    return mesh_pb2.FromRadio(packet=packet)


def queue_status(packet_id: int = 0, free: int = QUEUE_MAXLEN, res: int = 0) -> Any:
    return mesh_pb2.FromRadio(
        queueStatus=mesh_pb2.QueueStatus(res=res, free=free, maxlen=QUEUE_MAXLEN, mesh_packet_id=packet_id)
    )


def client_notification(message: str, reply_id: int = 0, level: str = "WARNING") -> Any:
    note = mesh_pb2.ClientNotification(
        message=message,
        time=int(time.time()),
        level=_enum_value(mesh_pb2.LogRecord.Level, level, "WARNING"),
    )
    if reply_id:
        note.reply_id = reply_id
    return mesh_pb2.FromRadio(clientNotification=note)


def rebooted() -> Any:
    return mesh_pb2.FromRadio(rebooted=True)


def parse_to_radio(data: bytes) -> Any:
    """Parse a ``ToRadio``; raises ``google.protobuf.message.DecodeError``."""
    msg = mesh_pb2.ToRadio()
    msg.ParseFromString(data)
    return msg


def on_air_data_bytes(packet: Any) -> int:
    """Encoded size of a client packet's ``Data`` as the firmware transmits it
    (it adds a 2-byte ``bitfield`` when the client did not set one)."""
    if packet.HasField("decoded"):
        size = len(packet.decoded.SerializeToString())
        if not packet.decoded.HasField("bitfield"):
            size += 2
        return size
    return len(packet.encrypted)
