"""Splitting text into Meshtastic-sized parts (agent/radio/textsplit.py)."""

from __future__ import annotations

import random
import re

import pytest

from agent.radio.textsplit import (
    MAX_TEXT_BYTES,
    marker_for,
    split_text,
    strip_marker,
    truncate_text,
    utf8_len,
)

MARKER = re.compile(r"^\((\d+)/(\d+)\) ")


def check_parts(text: str, parts: list[str], limit: int = MAX_TEXT_BYTES) -> None:
    """Every part fits (marker included), markers are 1..n in order, and the
    parts without markers join back to the original text."""
    assert parts
    if utf8_len(text) <= limit:
        assert parts == [text]
        return
    n = len(parts)
    assert n >= 2
    body = []
    for i, part in enumerate(parts, 1):
        assert utf8_len(part) <= limit, (i, utf8_len(part))
        m = MARKER.match(part)
        assert m, part[:20]
        assert (int(m.group(1)), int(m.group(2))) == (i, n)
        assert strip_marker(part) == part[m.end() :]
        assert part[m.end() :], "empty part"
        body.append(part[m.end() :])
        part.encode("utf-8")  # a str slice is always valid UTF-8; encoding must not fail
    assert "".join(body) == text


def test_constant() -> None:
    assert MAX_TEXT_BYTES == 232


def test_short_text_and_empty_unchanged() -> None:
    assert split_text("") == [""]
    assert split_text("SOS") == ["SOS"]
    exact = "x" * 232
    assert split_text(exact) == [exact]


def test_long_ascii_prefers_word_boundaries() -> None:
    words = " ".join(f"word{i}" for i in range(120))
    parts = split_text(words)
    check_parts(words, parts)
    for part in parts[:-1]:
        assert part.endswith(" "), "should break just after a space"
    assert parts[0].startswith("(1/")


def test_marker_format() -> None:
    assert marker_for(1, 3) == "(1/3) "
    parts = split_text("a" * 500)
    assert [p[:6] for p in parts] == ["(1/3) ", "(2/3) ", "(3/3) "]


def test_single_word_longer_than_limit() -> None:
    word = "A" * 1000
    parts = split_text(word)
    check_parts(word, parts)
    assert all(utf8_len(p) == MAX_TEXT_BYTES for p in parts[:-1])  # fills each part


def test_emoji_never_broken() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # ZWJ sequence, 25 bytes
    flag = "\U0001f1e9\U0001f1ea"  # German flag: two regional indicators
    thumbs = "\U0001f44d\U0001f3fd"  # thumbs up, medium skin tone
    text = (family + flag + thumbs + " ") * 30
    parts = split_text(text)
    check_parts(text, parts)
    for part in parts:
        body = strip_marker(part)
        # No part starts with a joiner, a modifier or the second half of a flag pair.
        assert not body.startswith("\u200d")
        assert not body.startswith("\U0001f3fd")
        assert body.count("\U0001f468") == body.count("\U0001f466")  # families whole
        indicators = [c for c in body if 0x1F1E6 <= ord(c) <= 0x1F1FF]
        assert len(indicators) % 2 == 0  # flags whole


def test_cjk_and_accents() -> None:
    cjk = "雪崩の危険があります。" * 40  # 3 bytes per character
    check_parts(cjk, split_text(cjk))
    accents = "e\u0301" * 300  # e + combining acute
    parts = split_text(accents)
    check_parts(accents, parts)
    for part in parts:
        assert not strip_marker(part).startswith("\u0301")


def test_many_parts_two_digit_markers() -> None:
    text = "é" * 2000  # 4000 bytes -> 18+ parts
    parts = split_text(text)
    assert len(parts) >= 10
    check_parts(text, parts)
    assert parts[9].startswith(f"(10/{len(parts)}) ")


def test_small_limit() -> None:
    text = "hello wonderful world of mesh radios"
    parts = split_text(text, limit=20)
    check_parts(text, parts, limit=20)
    with pytest.raises(ValueError):
        split_text("x" * 100, limit=8)


@pytest.mark.parametrize("seed", range(8))
def test_random_mixed_text(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [
        "a",
        "b",
        " ",
        "ü",
        "ß",
        "雪",
        "\U0001f600",
        "\U0001f44d\U0001f3fb",
        "\U0001f1eb\U0001f1f7",
        "\n",
    ]
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 900)))
    limit = rng.choice([40, 100, 200, 232])
    check_parts(text, split_text(text, limit), limit)


def test_truncate_text() -> None:
    assert truncate_text("short") == "short"
    cut = truncate_text("雪" * 100, 20)
    assert utf8_len(cut) <= 20
    assert cut.endswith("…")
    assert cut == "雪" * 5 + "…"
