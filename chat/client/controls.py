# -*- test-case-name: tests.client.test_controls -*-
"""
Text from other users as a terminal may show it: the characters it would
act on (an escape sequence that moves the cursor, clears the screen or sets
the clipboard; a carriage return that rewrites a line; a newline that makes
one event look like two; a bidirectional control that reorders a line)
escaped.

The same escapes as the server's text mode (C{chat.core.controls.shown},
which the client may not import: it is the server's core), checked
character by character against it in L{tests.client.test_controls}: C0
controls but tab in caret notation (C{^[}, C{^M}, C{^J}), DEL as C{^?},
the C1 controls, the bidirectional controls and the line and paragraph
separators as C{<U+XXXX>}.
"""

from __future__ import annotations

import re
from typing import Any, Final

#: Every character L{shown} escapes.
UNSAFE: Final = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def shown(text: str) -> str:
    """
    C{text} with what a terminal would act on escaped.
    """
    if text.isprintable():  # all of UNSAFE is non-printable
        return text
    return UNSAFE.sub(_escaped, text)


def shown_event(value: Any) -> Any:
    """
    C{value} (a decoded JSON event) with every string in it, at any depth,
    passed through L{shown}: an event's lines are built from its fields,
    so none of them can carry a control character.
    """
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {key: shown_event(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shown_event(item) for item in value]
    return value
