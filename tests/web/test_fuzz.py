"""
Hypothesis over what a WebSocket message can carry: any text (control
characters, line breaks, surrogates' neighbours, very long), binary
messages, and frames split anywhere.  Whatever a tab sends, the door
raises nothing, answers every message it refuses with an error event,
sends only JSON objects in text frames, and no control character reaches
another tab's frame raw.
"""

from __future__ import annotations

import re
from typing import Final

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.events import BytesMessage, TextMessage

from chat.core.controls import UNSAFE
from tests.web.support import WebTestCase

EXAMPLES: Final = 150
_LINE_BREAKS: Final = re.compile("[\r\n\x00]")

messages = st.one_of(
    st.text(max_size=80).map(lambda t: ("text", t)),
    st.text(
        alphabet=st.characters(codec="utf-8", categories=["Cc", "Zl", "Zp", "Cf"]),
        max_size=10,
    ).map(lambda t: ("text", "x" + t)),
    st.sampled_from(
        ["/help", "/users", "/join #r", "#r*hi", "bob*hi", "/me waves", "/quit"]
    ).map(lambda t: ("text", t)),
    st.binary(max_size=20).map(lambda b: ("binary", b)),
)


class FuzzTests(WebTestCase):
    """
    Any messages from one tab, watched by another.
    """

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(messages, max_size=12), st.integers(1, 40))
    def test_anything(self, sent: list[tuple[str, object]], split: int) -> None:
        """
        Messages of any content, their bytes split into reads of C{split}
        bytes: each refused one is answered with an error, everything sent
        is a JSON object, and what tabs get holds no control character raw.
        """
        self.setUp()
        watcher = self.connect("watcher")
        tab = self.connect("fuzzer")
        watcher.received()
        data = b""
        refused = 0
        for kind, payload in sent:
            if kind == "text":
                assert isinstance(payload, str)
                data += tab.ws.send(TextMessage(payload))
                if _LINE_BREAKS.search(payload):
                    refused += 1
            else:
                assert isinstance(payload, bytes)
                data += tab.ws.send(BytesMessage(payload))
                refused += 1
        for i in range(0, len(data), split):
            tab.send_raw(data[i : i + split])
            self.clock.advance(0)
        for _ in range(5):
            self.clock.advance(1)
        seen = tab.received()
        watched = watcher.received()
        for event in seen + watched:
            self.assertIsInstance(event, dict)
            self.assertIsInstance(event["type"], str)
        for text in watcher.texts + tab.texts:
            # What a terminal or a page would act on is escaped.
            self.assertIsNone(UNSAFE.search(text), text)
        if not tab.closes and not any(e["type"] == "goodbye" for e in seen):
            bad = [e for e in seen if e.get("code") == "bad-input"]
            self.assertEqual(len(bad), refused, seen)
