"""LoRa time on air for Meshtastic packets, modem presets and regional duty cycles.

Pure module (no meshtastic import) so the agent's send queue, the simulator and
the tests can all budget airtime the same way.

Formula (Semtech SX127x/SX126x datasheets, as implemented by RadioLib's
``SX126x::getTimeOnAir``)::

    T_sym      = 2^SF / BW
    T_preamble = (N_preamble + 4.25) * T_sym          N_preamble = 16 in Meshtastic (sub-GHz)
    N_payload  = 8 + max(ceil((8*PL - 4*SF + 28 + 16*CRC - 20*IH) / (4*(SF - 2*DE))) * (CR + 4), 0)
    ToA        = T_preamble + N_payload * T_sym

with CRC = 1 (on), IH = 0 (explicit header), CR = 1..4 for coding rates 4/5..4/8 and
DE = 1 (low data rate optimisation) when the symbol time is 16 ms or more.  RadioLib
uses ">= 16 ms"; no Meshtastic preset has a symbol time of exactly 16 ms, so "> 16 ms"
gives the same results for every preset.

Meshtastic over-the-air overhead assumed by :func:`packet_airtime_ms`
(``PL`` above, for an application payload of ``n`` bytes):

* 16 bytes of Meshtastic packet header (to, from, id, flags, channel hash,
  next hop, relay node), outside the encrypted envelope;
* the ``Data`` protobuf around the payload: 2 bytes for ``portnum`` (tag + 1-byte
  varint, every port number is below 128), 1 byte tag plus a 1- or 2-byte length
  varint for ``payload``, and 2 bytes for the ``bitfield`` the firmware adds to every
  packet it originates.

So ``PL = n + 22`` for ``n < 128`` and ``n + 23`` above (232 bytes -> 255, the
LoRa maximum).  AES-CTR
channel encryption does not change the length.  PKI-encrypted direct messages
(12 more bytes), ``reply_id``/``emoji`` fields and relays (every rebroadcast costs
another time on air) are not included.

Worked example (LONG_FAST = SF11, 250 kHz, CR 4/5, 10-byte text)::

    PL        = 10 + 22 = 32 bytes
    T_sym     = 2048 / 250000 s = 8.192 ms          (DE = 0, < 16 ms)
    preamble  = (16 + 4.25) * 8.192 = 165.888 ms
    N_payload = 8 + ceil((256 - 44 + 28 + 16) / 44) * 5 = 8 + ceil(5.818) * 5 = 38 symbols
    ToA       = 165.888 + 38 * 8.192 = 477.184 ms
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "DATA_PAYLOAD_LEN",
    "MAX_LORA_PAYLOAD_LEN",
    "MESHTASTIC_HEADER_BYTES",
    "MODEM_PRESETS",
    "PREAMBLE_SYMBOLS",
    "REGION_DUTY_CYCLE_PERCENT",
    "ModemPreset",
    "data_overhead_bytes",
    "duty_cycle_percent",
    "get_preset",
    "hourly_airtime_budget_ms",
    "lora_time_on_air_ms",
    "on_air_bytes",
    "packet_airtime_ms",
]

#: Preamble length Meshtastic uses on sub-GHz radios (12 on 2.4 GHz, not modelled).
PREAMBLE_SYMBOLS = 16
#: Meshtastic packet header, sent in clear in front of the (encrypted) Data protobuf.
MESHTASTIC_HEADER_BYTES = 16
#: Largest LoRa frame the firmware sends (``MAX_LORA_PAYLOAD_LEN``).
MAX_LORA_PAYLOAD_LEN = 255
#: Largest application payload the library accepts (``DATA_PAYLOAD_LEN``).  The
#: firmware's own check is one byte stricter for originated packets (see on_air_bytes).
DATA_PAYLOAD_LEN = 233

# Data protobuf overhead besides the payload's length varint:
#   portnum tag + value (2) + payload tag (1) + bitfield tag + value (2)
_DATA_FIXED_OVERHEAD = 5

#: Symbol time (ms) from which the radio enables low data rate optimisation.
LDRO_SYMBOL_MS = 16.0


def _varint_len(value: int) -> int:
    length = 1
    while value >= 0x80:
        value >>= 7
        length += 1
    return length


@dataclass(frozen=True)
class ModemPreset:
    """LoRa parameters of one Meshtastic modem preset.

    ``coding_rate`` is the denominator of the coding rate: 5 for 4/5 ... 8 for 4/8.
    """

    name: str
    spreading_factor: int
    bandwidth_khz: float
    coding_rate: int
    deprecated: bool = False
    note: str = ""

    @property
    def bandwidth_hz(self) -> float:
        return self.bandwidth_khz * 1000.0

    @property
    def symbol_time_ms(self) -> float:
        return float(2**self.spreading_factor) / self.bandwidth_hz * 1000.0

    @property
    def low_data_rate_optimize(self) -> bool:
        return self.symbol_time_ms >= LDRO_SYMBOL_MS

    @property
    def bit_rate_bps(self) -> float:
        """Raw LoRa bit rate: SF * BW / 2^SF * 4/CR."""
        return (
            self.spreading_factor
            * self.bandwidth_hz
            / float(2**self.spreading_factor)
            * 4.0
            / self.coding_rate
        )

    def time_on_air_ms(self, phy_payload_bytes: int) -> float:
        """Time on air of a LoRa frame of ``phy_payload_bytes`` bytes with this preset."""
        return lora_time_on_air_ms(
            phy_payload_bytes,
            spreading_factor=self.spreading_factor,
            bandwidth_hz=self.bandwidth_hz,
            coding_rate=self.coding_rate,
        )


#: Meshtastic modem presets (firmware ``modemPresetToParams`` in src/mesh/MeshRadio.h),
#: keyed by the protobuf enum name.  Bandwidths are the sub-GHz values (2.4 GHz
#: "wide LoRa" regions use wider channels; not modelled).
MODEM_PRESETS: dict[str, ModemPreset] = {
    p.name: p
    for p in (
        ModemPreset("SHORT_TURBO", 7, 500.0, 5, note="not allowed in EU_868"),
        ModemPreset("SHORT_FAST", 7, 250.0, 5),
        ModemPreset("SHORT_SLOW", 8, 250.0, 5),
        ModemPreset("MEDIUM_FAST", 9, 250.0, 5),
        ModemPreset("MEDIUM_SLOW", 10, 250.0, 5),
        ModemPreset("LONG_TURBO", 11, 500.0, 8, note="not allowed in EU_868"),
        ModemPreset("LONG_FAST", 11, 250.0, 5, note="firmware default"),
        ModemPreset("LONG_MODERATE", 11, 125.0, 8),
        ModemPreset("LONG_SLOW", 12, 125.0, 8),
        ModemPreset("VERY_LONG_SLOW", 12, 62.5, 8, deprecated=True, note="deprecated"),
        ModemPreset("LITE_FAST", 9, 125.0, 5, note="EU_866 profile"),
        ModemPreset("LITE_SLOW", 10, 125.0, 5, note="EU_866 profile"),
        ModemPreset("NARROW_FAST", 7, 62.5, 6, note="EU_N_868 profile"),
        ModemPreset("NARROW_SLOW", 8, 62.5, 6, note="EU_N_868 profile"),
    )
}

#: Regional duty-cycle limits in percent (firmware ``regions[]`` in
#: src/mesh/RadioInterface.cpp).  EU_866 is 2.5 % for mobile nodes (10 % for a
#: fixed ROUTER); the firmware applies the limit over a rolling hour.
REGION_DUTY_CYCLE_PERCENT: dict[str, float] = {
    "UNSET": 100.0,
    "US": 100.0,
    "EU_433": 10.0,
    "EU_868": 10.0,
    "CN": 100.0,
    "JP": 100.0,
    "ANZ": 100.0,
    "ANZ_433": 100.0,
    "KR": 100.0,
    "TW": 100.0,
    "RU": 100.0,
    "IN": 100.0,
    "NZ_865": 100.0,
    "TH": 10.0,
    "LORA_24": 100.0,
    "UA_433": 10.0,
    "UA_868": 1.0,
    "MY_433": 100.0,
    "MY_919": 100.0,
    "SG_923": 100.0,
    "PH_433": 100.0,
    "PH_868": 100.0,
    "PH_915": 100.0,
    "KZ_433": 100.0,
    "KZ_863": 100.0,
    "NP_865": 100.0,
    "BR_902": 100.0,
    "EU_866": 2.5,
    "EU_N_868": 10.0,
}


def _normalise(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


_PRESETS_BY_KEY = {_normalise(k): v for k, v in MODEM_PRESETS.items()}


def get_preset(name: str) -> ModemPreset:
    """Look a preset up by enum name, case and separators ignored.

    ``"LONG_FAST"``, ``"long_fast"``, ``"LongFast"`` and ``"long-fast"`` all work.
    Raises ``ValueError`` for an unknown name.
    """
    preset = _PRESETS_BY_KEY.get(_normalise(name))
    if preset is None:
        raise ValueError(f"unknown modem preset {name!r}; known: {', '.join(sorted(MODEM_PRESETS))}")
    return preset


def lora_time_on_air_ms(
    payload_bytes: int,
    spreading_factor: int,
    bandwidth_hz: float,
    coding_rate: int,
    preamble_symbols: int = PREAMBLE_SYMBOLS,
    explicit_header: bool = True,
    crc: bool = True,
    low_data_rate_optimize: bool | None = None,
) -> float:
    """Semtech LoRa time on air in milliseconds of a ``payload_bytes`` PHY payload.

    ``coding_rate`` is the denominator (5..8 for 4/5..4/8).
    ``low_data_rate_optimize=None`` enables it automatically when the symbol time
    is 16 ms or more, as the radios Meshtastic uses do.
    """
    if payload_bytes < 0:
        raise ValueError("payload_bytes must be >= 0")
    if not 6 <= spreading_factor <= 12:
        raise ValueError(f"spreading factor must be 6..12, not {spreading_factor}")
    if not 5 <= coding_rate <= 8:
        raise ValueError(f"coding rate denominator must be 5..8, not {coding_rate}")
    if bandwidth_hz <= 0:
        raise ValueError("bandwidth must be positive")
    t_sym_ms = float(2**spreading_factor) / bandwidth_hz * 1000.0
    if low_data_rate_optimize is None:
        low_data_rate_optimize = t_sym_ms >= LDRO_SYMBOL_MS
    de = 1 if low_data_rate_optimize else 0
    ih = 0 if explicit_header else 1
    crc_on = 1 if crc else 0
    cr = coding_rate - 4
    numerator = 8 * payload_bytes - 4 * spreading_factor + 28 + 16 * crc_on - 20 * ih
    denominator = 4 * (spreading_factor - 2 * de)
    n_payload = 8 + max(math.ceil(numerator / denominator) * (cr + 4), 0)
    t_preamble = (preamble_symbols + 4.25) * t_sym_ms
    return t_preamble + n_payload * t_sym_ms


def data_overhead_bytes(payload_bytes: int) -> int:
    """Bytes the ``Data`` protobuf adds around a payload (portnum, length, bitfield)."""
    if payload_bytes < 0:
        raise ValueError("payload_bytes must be >= 0")
    return _DATA_FIXED_OVERHEAD + _varint_len(payload_bytes)


def on_air_bytes(payload_bytes: int) -> int:
    """LoRa PHY payload size of a Meshtastic packet carrying ``payload_bytes``.

    16-byte header + Data protobuf.  The firmware refuses (``TOO_LARGE``) anything
    above :data:`MAX_LORA_PAYLOAD_LEN`, i.e. a plain text of more than 232 bytes.
    """
    return MESHTASTIC_HEADER_BYTES + data_overhead_bytes(payload_bytes) + payload_bytes


def packet_airtime_ms(payload_bytes: int, preset: str = "LONG_FAST") -> float:
    """Time on air (ms) of one Meshtastic packet with an application payload of
    ``payload_bytes`` bytes (e.g. the UTF-8 text) sent with modem ``preset``.

    Assumes the overhead described in the module docstring (16-byte header plus
    5-6 bytes of Data protobuf).  One transmission only: relays and retries
    multiply it.
    """
    return get_preset(preset).time_on_air_ms(on_air_bytes(payload_bytes))


def duty_cycle_percent(region: str) -> float:
    """Duty-cycle limit of a LoRa region in percent (100.0 = unrestricted).

    ``region`` is the protobuf RegionCode name (``"EU_868"``, ``"US"``...), case
    insensitive.  Raises ``ValueError`` for an unknown region.
    """
    key = region.strip().upper().replace("-", "_")
    try:
        return REGION_DUTY_CYCLE_PERCENT[key]
    except KeyError:
        raise ValueError(
            f"unknown region {region!r}; known: {', '.join(sorted(REGION_DUTY_CYCLE_PERCENT))}"
        ) from None


def hourly_airtime_budget_ms(region: str) -> float:
    """Transmit time allowed per rolling hour in a region, in milliseconds."""
    return duty_cycle_percent(region) / 100.0 * 3_600_000.0
