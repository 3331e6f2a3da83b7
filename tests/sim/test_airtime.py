"""LoRa time on air, modem presets and duty cycles (agent/radio/airtime.py)."""

from __future__ import annotations

import pytest

from agent.radio.airtime import (
    MAX_LORA_PAYLOAD_LEN,
    MODEM_PRESETS,
    ModemPreset,
    duty_cycle_percent,
    get_preset,
    hourly_airtime_budget_ms,
    lora_time_on_air_ms,
    on_air_bytes,
    packet_airtime_ms,
)

REQUIRED_PRESETS = [
    "LONG_FAST",
    "LONG_SLOW",
    "LONG_MODERATE",
    "VERY_LONG_SLOW",
    "MEDIUM_SLOW",
    "MEDIUM_FAST",
    "SHORT_SLOW",
    "SHORT_FAST",
    "SHORT_TURBO",
]


def test_long_fast_10_bytes_worked_by_hand() -> None:
    # LONG_FAST: SF11, BW 250 kHz, CR 4/5, preamble 16, explicit header, CRC on.
    # PL = 16 (header) + 2 (portnum) + 1 (payload tag) + 1 (length) + 10 + 2 (bitfield) = 32
    # T_sym = 2^11 / 250 kHz = 8.192 ms (< 16 ms: no low data rate optimisation)
    # T_preamble = (16 + 4.25) * 8.192 = 165.888 ms
    # N_payload = 8 + ceil((8*32 - 4*11 + 28 + 16) / (4*11)) * (1 + 4)
    #           = 8 + ceil(256 / 44) * 5 = 8 + 6 * 5 = 38 symbols -> 311.296 ms
    # ToA = 165.888 + 311.296 = 477.184 ms
    assert on_air_bytes(10) == 32
    assert packet_airtime_ms(10, "LONG_FAST") == pytest.approx(477.184, abs=1e-6)


def test_long_slow_uses_low_data_rate_optimisation() -> None:
    # LONG_SLOW: SF12, 125 kHz, CR 4/8: T_sym = 32.768 ms >= 16 ms -> DE = 1.
    # "SOS": PL = 16 + 2 + 1 + 1 + 3 + 2 = 25
    # N_payload = 8 + ceil((200 - 48 + 28 + 16) / (4 * (12 - 2))) * 8 = 8 + 5 * 8 = 48
    # ToA = (16 + 4.25) * 32.768 + 48 * 32.768 = 663.552 + 1572.864 = 2236.416 ms
    preset = get_preset("LONG_SLOW")
    assert preset.low_data_rate_optimize
    assert not get_preset("LONG_FAST").low_data_rate_optimize
    assert packet_airtime_ms(3, "LONG_SLOW") == pytest.approx(2236.416, abs=1e-6)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        # Table of meshtastic.md section 4.3 (ms, rounded) for 3/50/100/200/232-byte texts.
        ("SHORT_FAST", [35, 71, 107, 181, 204]),
        ("MEDIUM_FAST", [119, 232, 345, 570, 642]),
        ("MEDIUM_SLOW", [239, 423, 628, 1037, 1181]),
        ("LONG_FAST", [436, 805, 1174, 1911, 2157]),
        ("LONG_MODERATE", [1249, 2560, 4133, 7016, 7934]),
        ("LONG_SLOW", [2236, 4858, 7479, 12722, 14295]),
    ],
)
def test_matches_reference_table(preset: str, expected: list[int]) -> None:
    got = [round(packet_airtime_ms(n, preset)) for n in (3, 50, 100, 200, 232)]
    assert got == expected


@pytest.mark.parametrize("name", REQUIRED_PRESETS)
def test_every_preset_monotonic_and_positive(name: str) -> None:
    assert name in MODEM_PRESETS
    previous = 0.0
    for size in range(234):
        t = packet_airtime_ms(size, name)
        assert t > 0
        assert t >= previous, f"{name}: airtime decreased at {size} bytes"
        previous = t
    assert packet_airtime_ms(233, name) > packet_airtime_ms(1, name)


def test_preset_parameters() -> None:
    lf = MODEM_PRESETS["LONG_FAST"]
    assert isinstance(lf, ModemPreset)
    assert (lf.spreading_factor, lf.bandwidth_khz, lf.coding_rate) == (11, 250.0, 5)
    assert (MODEM_PRESETS["SHORT_TURBO"].spreading_factor, MODEM_PRESETS["SHORT_TURBO"].bandwidth_khz) == (
        7,
        500.0,
    )
    assert MODEM_PRESETS["VERY_LONG_SLOW"].bandwidth_khz == 62.5
    assert MODEM_PRESETS["VERY_LONG_SLOW"].deprecated
    # Slower presets take longer for the same packet.
    order = ["SHORT_TURBO", "SHORT_FAST", "MEDIUM_FAST", "LONG_FAST", "LONG_MODERATE", "LONG_SLOW"]
    times = [packet_airtime_ms(100, p) for p in order]
    assert times == sorted(times)
    with pytest.raises(AttributeError):
        lf.spreading_factor = 7  # type: ignore[misc]


def test_preset_names_are_forgiving() -> None:
    for name in ("LONG_FAST", "long_fast", "LongFast", "long-fast"):
        assert get_preset(name).name == "LONG_FAST"
    with pytest.raises(ValueError, match="unknown modem preset"):
        get_preset("FAST_AND_FURIOUS")


def test_largest_text_fills_a_lora_frame() -> None:
    assert on_air_bytes(232) == MAX_LORA_PAYLOAD_LEN
    assert on_air_bytes(233) == MAX_LORA_PAYLOAD_LEN + 1
    assert on_air_bytes(128) == on_air_bytes(127) + 2  # 2-byte length varint from 128


def test_generic_formula_arguments() -> None:
    base = lora_time_on_air_ms(20, 7, 125_000, 5)
    assert lora_time_on_air_ms(20, 7, 125_000, 5, preamble_symbols=8) < base
    assert lora_time_on_air_ms(20, 7, 125_000, 8) > base
    assert lora_time_on_air_ms(20, 7, 125_000, 5, crc=False) <= base
    assert lora_time_on_air_ms(0, 7, 125_000, 5) > 0
    with pytest.raises(ValueError):
        lora_time_on_air_ms(-1, 7, 125_000, 5)
    with pytest.raises(ValueError):
        lora_time_on_air_ms(10, 13, 125_000, 5)
    with pytest.raises(ValueError):
        lora_time_on_air_ms(10, 7, 125_000, 4)


def test_duty_cycles() -> None:
    assert duty_cycle_percent("EU_868") == 10.0
    assert duty_cycle_percent("eu_868") == 10.0
    assert duty_cycle_percent("US") == 100.0
    assert duty_cycle_percent("UA_868") == 1.0
    assert duty_cycle_percent("EU_866") == 2.5
    assert hourly_airtime_budget_ms("EU_868") == 360_000.0
    with pytest.raises(ValueError, match="unknown region"):
        duty_cycle_percent("MARS")
    # About 307 LONG_FAST texts of 100 bytes per hour in EU_868 (meshtastic.md 4.4).
    assert round(hourly_airtime_budget_ms("EU_868") / packet_airtime_ms(100, "LONG_FAST")) == 307
