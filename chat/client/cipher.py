# -*- test-case-name: tests.client.test_session -*-
"""
Seed 000's letter-shift "encryption": obfuscation, not security.

Shifted text travels with a visible marker so that clients without
C{--shift-cipher} (and people on nc) can tell it from plain text, and
clients with it only ever unshift what was shifted.
"""

from __future__ import annotations

MARKER = "[shift] "

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_ENCRYPT = str.maketrans(_LOWER + _UPPER, _LOWER[1:] + "a" + _UPPER[1:] + "A")
_DECRYPT = str.maketrans(_LOWER[1:] + "a" + _UPPER[1:] + "A", _LOWER + _UPPER)


def shift(text: str) -> str:
    """
    Replace each ASCII letter with the next one (C{xyza} -> C{yzab}).
    """
    return text.translate(_ENCRYPT)


def unshift(text: str) -> str:
    """
    Replace each ASCII letter with the previous one (C{zpaz} -> C{yozy}).
    """
    return text.translate(_DECRYPT)


def encode(text: str) -> str:
    """
    The wire form of C{text} for a shift-cipher user: marker, then shifted.
    """
    return MARKER + shift(text)


def decode(text: str) -> tuple[str, bool]:
    """
    Undo L{encode}; text without the marker is returned as it is.

    @return: the readable text, and whether it had been shifted.
    """
    if text.startswith(MARKER):
        return unshift(text[len(MARKER) :]), True
    return text, False
