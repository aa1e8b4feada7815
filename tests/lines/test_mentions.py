"""
Mentions in the line door (issue 16): the JSON copy of a message that
names its recipient carries C{mention: true}; nobody else's copy changes.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.testing import StringTransport

from chat.lines.protocol import ChatProtocol
from tests.support import LineTestCase


class MentionTests(LineTestCase):
    """
    Alice and bob read JSON, carol text; dave sends.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_t = self.json_user("alice")
        self.bob, self.bob_t = self.json_user("bob")
        self.carol, self.carol_t = self.connect("carol")
        self.dave, self.dave_t = self.connect("dave", exempt=True)
        self.clear()

    def json_user(self, name: str) -> tuple[ChatProtocol, StringTransport]:
        protocol, transport = self.connect(name)
        protocol.dataReceived(b"/mode json\n")
        return protocol, transport

    def clear(self) -> None:
        for transport in (self.alice_t, self.bob_t, self.carol_t, self.dave_t):
            self.received(transport)

    def events(self, transport: StringTransport) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.received(transport)]

    def test_one_message(self) -> None:
        """
        A message naming alice is a mention in her copy only.
        """
        self.dave.dataReceived(b"Alice: lunch?\n")
        [mine] = self.events(self.alice_t)
        [theirs] = self.events(self.bob_t)
        self.assertEqual(
            (mine["type"], mine["text"], mine["mention"]),
            ("message", "Alice: lunch?", True),
        )
        self.assertNotIn("mention", theirs)
        self.assertEqual({**theirs, "mention": True}, mine)
        self.assertEqual(self.received(self.carol_t), ["dave: Alice: lunch?"])

    def test_batch(self) -> None:
        """
        In a batch of several broadcasts, only the events naming alice are
        flagged in her copy, in order; her own message is left out of hers
        even when it names her; a word containing her name is no mention.
        """
        self.dave.dataReceived(b"hi all\n/me waves at alice\nmalice\n/join #x\n")
        self.alice.dataReceived(b"I am alice\n")
        self.dave.dataReceived(b"bye ALICE\n")
        mine = self.events(self.alice_t)
        self.assertEqual(
            [
                (e.get("text"), e.get("mention"))
                for e in mine
                if e["type"] != "room-joined"
            ],
            [
                ("hi all", None),
                ("waves at alice", True),
                ("malice", None),
                ("bye ALICE", True),
            ],
        )
        theirs = self.events(self.bob_t)
        self.assertEqual(
            [e["text"] for e in theirs],
            ["hi all", "waves at alice", "malice", "I am alice", "bye ALICE"],
        )
        self.assertFalse(any("mention" in e for e in theirs))

    def test_room(self) -> None:
        """
        A room message naming a member is a mention for that member.
        """
        for who in (self.alice, self.bob, self.dave):
            who.dataReceived(b"/join #x\n")
        self.clear()
        self.dave.dataReceived(b"/say #x bob, ready?\n")
        [mine] = self.events(self.bob_t)
        self.assertEqual((mine["room"], mine["mention"]), ("#x", True))
        [theirs] = self.events(self.alice_t)
        self.assertNotIn("mention", theirs)

    def test_text_unchanged(self) -> None:
        """
        Text mode shows a mention as any other message.
        """
        self.dave.dataReceived(b"carol?\n")
        self.assertEqual(self.received(self.carol_t), ["dave: carol?"])
