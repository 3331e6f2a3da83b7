"""Split text into Meshtastic-sized parts, counting UTF-8 bytes (pure module).

A channel text carries at most 232 UTF-8 bytes (the firmware's limit: 233 is
refused with TOO_LARGE once it adds its 2-byte bitfield and 16-byte header).
Longer text is split into parts prefixed with a marker ``"(i/n) "``; every part,
marker included, fits the limit.  Parts are cut between user-perceived
characters where possible (never inside a UTF-8 sequence, and not inside an
emoji ZWJ sequence, a flag, or before a combining mark or skin-tone modifier),
preferably just after a space when one is near the end of the part.  Spaces are
kept, so stripping the markers and joining the parts gives back the original
text exactly.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MAX_TEXT_BYTES",
    "marker_for",
    "split_text",
    "strip_marker",
    "truncate_text",
    "utf8_len",
]

#: Largest plain channel text (UTF-8 bytes) the firmware transmits.
MAX_TEXT_BYTES = 232

# A break is "near" when it keeps at least this fraction of the part's budget.
_WORD_BREAK_MIN_FRACTION = 0.5

_ZWJ = 0x200D
_MARKER_RE = re.compile(r"^\((\d+)/(\d+)\) ")


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def marker_for(index: int, total: int) -> str:
    """Part marker, 1-based: ``marker_for(1, 3) == "(1/3) "``."""
    return f"({index}/{total}) "


def strip_marker(part: str) -> str:
    """Remove a leading ``"(i/n) "`` marker, if any."""
    return _MARKER_RE.sub("", part, count=1)


def _extends_cluster(prev: str, cur: str, ri_run: int) -> bool:
    """True when ``cur`` belongs to the same user-perceived character as ``prev``.

    ``ri_run`` is the number of consecutive regional indicators ending at ``prev``.
    A simplified grapheme rule set: enough for emoji sequences, flags and accents.
    """
    c = ord(cur)
    p = ord(prev)
    if p == _ZWJ or c == _ZWJ:
        return True
    if 0xFE00 <= c <= 0xFE0F or 0xE0100 <= c <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= c <= 0x1F3FF:  # emoji skin-tone modifiers
        return True
    if 0xE0020 <= c <= 0xE007F:  # emoji tag sequences (subdivision flags)
        return True
    if c == 0x20E3:  # combining enclosing keycap
        return True
    if 0x1F1E6 <= c <= 0x1F1FF and 0x1F1E6 <= p <= 0x1F1FF:  # flag = pair of indicators
        return ri_run % 2 == 1
    if prev == "\r" and cur == "\n":
        return True
    return unicodedata.category(cur) in ("Mn", "Me", "Mc")


def _clusters(text: str) -> list[str]:
    """Split ``text`` into (approximate) grapheme clusters."""
    out: list[str] = []
    ri_run = 0
    for ch in text:
        if out and _extends_cluster(out[-1][-1], ch, ri_run):
            out[-1] += ch
        else:
            out.append(ch)
        ri_run = ri_run + 1 if 0x1F1E6 <= ord(ch) <= 0x1F1FF else 0
    return out


def _take(units: list[str], start: int, budget: int) -> int:
    """Index after the last unit that fits in ``budget`` bytes from ``start``,
    preferring to end just after a space.  Always takes at least one unit."""
    used = 0
    end = start
    while end < len(units):
        size = utf8_len(units[end])
        if used + size > budget:
            break
        used += size
        end += 1
    if end == len(units):
        return end
    if end == start:
        return start + 1  # a single unit larger than the budget (caller splits it)
    # Prefer a word boundary: the last whitespace unit that keeps enough of the part.
    min_bytes = budget * _WORD_BREAK_MIN_FRACTION
    size = used
    for i in range(end - 1, start, -1):
        if units[i].isspace():
            if size >= min_bytes:
                return i + 1
            break
        size -= utf8_len(units[i])
        if size < min_bytes:
            break
    return end


def _chunks(text: str, budget: int) -> list[str]:
    units: list[str] = []
    for cluster in _clusters(text):
        if utf8_len(cluster) > budget:
            units.extend(cluster)  # pathological cluster: fall back to code points
        else:
            units.append(cluster)
    parts: list[str] = []
    i = 0
    while i < len(units):
        j = _take(units, i, budget)
        parts.append("".join(units[i:j]))
        i = j
    return parts


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-8 bytes each.

    Returns ``[text]`` unchanged when it fits (also for ``""``).  Otherwise every
    part starts with ``"(i/n) "`` and is, marker included, at most ``limit`` bytes.
    Raises ``ValueError`` when ``limit`` cannot hold a marker and one character.
    """
    if utf8_len(text) <= limit:
        return [text]
    digits = 1
    while True:
        widest = marker_for(10**digits - 1, 10**digits - 1)
        budget = limit - utf8_len(widest)
        if budget < 4:  # one code point is up to 4 bytes
            raise ValueError(f"limit {limit} is too small to split text with part markers")
        chunks = _chunks(text, budget)
        if len(chunks) < 10**digits:
            total = len(chunks)
            return [marker_for(i, total) + chunk for i, chunk in enumerate(chunks, 1)]
        digits += 1


def truncate_text(text: str, limit: int = MAX_TEXT_BYTES, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes on a character boundary,
    ending with ``ellipsis`` when something was cut."""
    if utf8_len(text) <= limit:
        return text
    budget = limit - utf8_len(ellipsis)
    if budget < 0:
        raise ValueError(f"limit {limit} is too small for the ellipsis")
    out: list[str] = []
    used = 0
    for cluster in _clusters(text):
        size = utf8_len(cluster)
        if used + size > budget:
            break
        out.append(cluster)
        used += size
    return "".join(out) + ellipsis
