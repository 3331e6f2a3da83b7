"""Meshtastic stream framing: ``0x94 0xC3 <len_hi> <len_lo> <protobuf>``.

The same framing is used over serial and TCP.  Bytes outside a frame (the 32
``0xC3`` wake-up bytes a client sends first, or debug text from a device) are
skipped; a header announcing more than 512 bytes is discarded and the decoder
resynchronises on the next start byte, as the firmware does.
"""

from __future__ import annotations

START1 = 0x94
START2 = 0xC3
HEADER_LEN = 4
MAX_FRAME_PAYLOAD = 512


class FrameError(ValueError):
    """A payload too large to frame."""


def encode_frame(payload: bytes) -> bytes:
    """Frame one serialized protobuf."""
    if len(payload) > MAX_FRAME_PAYLOAD:
        raise FrameError(f"frame payload of {len(payload)} bytes exceeds {MAX_FRAME_PAYLOAD}")
    return bytes((START1, START2, (len(payload) >> 8) & 0xFF, len(payload) & 0xFF)) + payload


class FrameDecoder:
    """Incremental decoder: feed it received bytes, get complete payloads back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped_bytes = 0
        self.oversized_frames = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        frames: list[bytes] = []
        buf = self._buf
        while True:
            # Resynchronise on START1 START2.
            start = buf.find(bytes((START1, START2)))
            if start < 0:
                # Keep a trailing START1: its START2 may be in the next chunk.
                keep = 1 if buf and buf[-1] == START1 else 0
                self.skipped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.skipped_bytes += start
                del buf[:start]
            if len(buf) < HEADER_LEN:
                break
            length = (buf[2] << 8) | buf[3]
            if length > MAX_FRAME_PAYLOAD:
                self.oversized_frames += 1
                del buf[:2]  # drop this start marker and look for the next one
                continue
            if len(buf) < HEADER_LEN + length:
                break
            frames.append(bytes(buf[HEADER_LEN : HEADER_LEN + length]))
            del buf[: HEADER_LEN + length]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)
