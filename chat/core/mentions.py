# -*- test-case-name: tests.core.test_mentions -*-
"""
Mentions (issue 16): which recipients of a batch of broadcasts are named
in their text, the same rule for every door.

A message to everyone, an action or a room message mentions a user when
its text holds the user's name compared as names are (L{fold}: case
folded, NFKC) as a whole word: the characters just before and after it
are not word characters (letters, digits, C{_}), so C{alice's} and
C{@alice:} mention C{alice}, and C{malice} does not.  A sender never
mentions itself.

Fanning a batch out must stay O(recipients) with a small constant: the
batch's words are indexed once (L{MentionIndex}), and a recipient whose
name is one word costs one dict lookup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

from chat.core.names import fold
from chat.events import Action, Event, Message, RoomMessage

# The events whose text may mention their recipients.
_MENTIONABLE: Final = (Message, Action, RoomMessage)
_WORD: Final = re.compile(r"\w+")


def folded(text: str) -> str:
    """
    C{text} compared as names are: the same as L{fold} does to a name
    (NFKC, case folded, NFC), without refusing what no name may hold.
    """
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=4096)
def _one_word(key: str) -> bool:
    return _WORD.fullmatch(key) is not None


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def in_text(key: str, text: str) -> bool:
    """
    Whether the name whose key is C{key} is a whole word of the folded
    C{text}.
    """
    start = text.find(key)
    end = len(key)
    while start >= 0:
        before = text[start - 1] if start else " "
        after = text[start + end] if start + end < len(text) else " "
        if not _is_word_char(before) and not _is_word_char(after):
            return True
        start = text.find(key, start + 1)
    return False


def mentions(text: str, key: str) -> bool:
    """
    Whether C{text} mentions the user whose key (L{fold}) is C{key}.
    """
    return bool(key) and in_text(key, folded(text))


class MentionIndex:
    """
    Who the events of one batch mention: made once per batch, asked once
    per recipient (L{of}).
    """

    __slots__ = ("_senders", "_texts", "_words")

    def __init__(self, events: Sequence[Event]) -> None:
        words: dict[str, list[int]] = {}
        texts: list[tuple[int, str]] = []
        senders: dict[int, str] = {}
        for index, event in enumerate(events):
            if not isinstance(event, _MENTIONABLE):
                continue
            text = folded(event.text)
            texts.append((index, text))
            senders[index] = event.sender
            for word in set(_WORD.findall(text)):
                found = words.get(word)
                if found is None:
                    words[word] = [index]
                else:
                    found.append(index)
        self._words = words
        self._texts = texts
        self._senders = senders

    def of(self, key: str) -> list[int]:
        """
        The indexes of the events that mention the user C{key}, ascending;
        usually none, found with one lookup.
        """
        if not self._texts:
            return []
        hits = self._words.get(key)
        if hits is None:
            if key.isalnum() or _one_word(key):
                return []
            hits = [i for i, text in self._texts if in_text(key, text)]
            if not hits:
                return []
        senders = self._senders
        return [i for i in hits if fold(senders[i]) != key]
