"""The wire codec: msgpack with a schema version and a type tag in every payload."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

import msgpack
import msgspec

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
    body = message.get("b")
    version, kind = _check_envelope(message.get("v"), message.get("t"),
                                    isinstance(body, dict), supported)
    return kind, cast(dict[str, Any], body), version


def _check_envelope(version: Any, kind: Any, has_body: bool, supported: range) \
        -> tuple[int, str]:
    if not isinstance(version, int) or isinstance(version, bool) or version not in supported:
        raise DecodeError(f"unsupported schema version {version!r}")
    if not isinstance(kind, str) or not has_body:
        raise DecodeError("missing type tag or body")
    return version, kind


class _Envelope(msgspec.Struct):
    v: Any = None
    t: Any = None
    b: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


_ENVELOPE = msgspec.msgpack.Decoder(_Envelope)
# What msgspec raises for bytes that are not a message: malformed msgpack, text that is not
# UTF-8 (UnicodeDecodeError, a ValueError), nesting too deep to follow (RecursionError).
_MALFORMED = (msgspec.DecodeError, ValueError, RecursionError)


@cache
def _decoder(body_type: Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(body_type)


def decode_as(payload: bytes, body_types: Mapping[str, Any],
              supported: range = range(1, SCHEMA_VERSION + 1)) -> tuple[str, Any, int]:
    """Like ``decode``, with the body decoded straight into the msgspec type ``body_types``
    gives for its kind (any other kind: a map) and checked against it on the way:
    (kind, body, version). Raises DecodeError for a malformed message and
    msgspec.ValidationError (naming the path) for a body that does not fit its type.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        envelope = _ENVELOPE.decode(payload)
    except msgspec.ValidationError as exc:
        raise DecodeError("not a map") from exc
    except _MALFORMED as exc:
        raise DecodeError(f"not msgpack: {exc}") from exc
    version, kind = _check_envelope(envelope.v, envelope.t, len(envelope.b) > 0, supported)
    try:
        body = _decoder(body_types.get(kind, dict[str, Any])).decode(envelope.b)
    except msgspec.ValidationError:
        raise
    except _MALFORMED as exc:
        raise DecodeError(f"not msgpack: {exc}") from exc
    return kind, body, version
