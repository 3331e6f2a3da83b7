"""The wire codec: msgpack with a schema version and a type tag in every payload."""

from __future__ import annotations

from typing import Any

import msgpack

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


class DecodeError(ValueError):
    """A payload that is not a Firefly message: the reason is the message."""


def encode(kind: str, body: dict[str, Any], version: int = SCHEMA_VERSION) -> bytes:
    packed: bytes = msgpack.packb({"v": version, "t": kind, "b": body}, use_bin_type=True, default=str)
    return packed


def decode(payload: bytes, supported: range = range(1, SCHEMA_VERSION + 1)) \
        -> tuple[str, dict[str, Any], int]:
    """Return (kind, body, version); raise DecodeError for anything malformed."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise DecodeError(f"not msgpack: {exc}") from exc
    if not isinstance(message, dict):
        raise DecodeError("not a map")
    version, kind, body = message.get("v"), message.get("t"), message.get("b")
    if not isinstance(version, int) or version not in supported:
        raise DecodeError(f"unsupported schema version {version!r}")
    if not isinstance(kind, str) or not isinstance(body, dict):
        raise DecodeError("missing type tag or body")
    return kind, body, version
