"""
Tests for L{chat.client.private}: a private conversation is filled with
its past when it opens (issue 16), through a L{ClientSession} as the
full-screen view uses it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from chat.client.private import PRIVATE_PAST
from chat.client.tui import TUIView
from tests.client.test_rooms import ConversationTestCase
from tests.client.test_session import FakeTransport, FakeView, SessionTestCase


class TabView(FakeView):
    """
    A view that shows private conversations apart, as the full-screen one.
    """

    fills_private_tabs = True


def past(sender: str, recipient: str, text: str, other: str) -> dict[str, Any]:
    """
    The fields of a private message replayed from history.
    """
    return {
        "from": sender,
        "to": recipient,
        "text": text,
        "history": True,
        "with": other,
    }


class PrivatePastTests(SessionTestCase):
    """
    The session asks for a conversation's past the first time the user
    talks with someone, and shows it less what was shown live.
    """

    def setUp(self) -> None:
        super().setUp()
        self.view = TabView()

    def end(self, transport: FakeTransport, other: str, count: int) -> None:
        transport.receive_event(
            "history-end", count=count, room=None, missed=False, **{"with": other}
        )

    def test_received_opens(self) -> None:
        """
        A private message from someone new asks for their past; the replay
        is shown without the message that opened it, then its end; a
        second message asks nothing.
        """
        session, transport = self.joined()
        transport.receive_event(
            "private", **{"from": "bob", "to": "alice", "text": "hi"}
        )
        self.assertEqual(transport.sent(), [f"/history bob {PRIVATE_PAST}"])
        self.assertEqual([e["text"] for e in self.view.events[-1:]], ["hi"])
        shown = len(self.view.events)
        for entry in (
            past("alice", "bob", "yesterday", "bob"),
            past("bob", "alice", "hi", "bob"),
        ):
            transport.receive_event("private", **entry)
        self.assertEqual(len(self.view.events), shown)  # held until the end
        self.end(transport, "bob", 2)
        replayed = self.view.events[shown:]
        self.assertEqual(
            [(e["type"], e.get("text"), e.get("count")) for e in replayed],
            [("private", "yesterday", None), ("history-end", None, 1)],
        )
        transport.receive_event(
            "private", **{"from": "Bob", "to": "alice", "text": "again"}
        )
        self.assertEqual(transport.sent(), [])

    def test_sent_opens(self) -> None:
        """
        Sending to someone new asks for their past first: the server
        answers before it takes the message, so nothing is left out.
        """
        session, transport = self.joined()
        session.input_line("bob*hi")
        self.assertEqual(transport.sent(), [f"/history bob {PRIVATE_PAST}", "bob*hi"])
        transport.receive_event("private", **past("alice", "bob", "hi", "bob"))
        self.end(transport, "bob", 1)
        self.assertEqual(
            [e["text"] for e in self.view.events if e["type"] == "private"], ["hi"]
        )
        session.input_line("/dm bob more")
        self.assertEqual(transport.sent(), ["/dm bob more"])

    def test_nothing_kept(self) -> None:
        """
        A guest (or a guest correspondent) is refused: nothing is shown,
        no error; an empty replay shows nothing either.
        """
        session, transport = self.joined()
        session.input_line("bob*hi")
        session.input_line("carol*hi")
        transport.sent()
        transport.receive_event(
            "error", code="no-private-history", text="kept only between registered"
        )
        self.end(transport, "carol", 0)
        self.assertEqual(self.view.errors, [])
        self.assertEqual([e["type"] for e in self.view.events], ["welcome"])

    def test_plain_view(self) -> None:
        """
        A view that shows every message in one stream (a script, --plain)
        asks for nothing.
        """
        self.view = FakeView()
        session, transport = self.joined()
        transport.receive_event(
            "private", **{"from": "bob", "to": "alice", "text": "hi"}
        )
        session.input_line("carol*hi")
        self.assertEqual(transport.sent(), ["carol*hi"])

    def test_asked_again_after_reconnect(self) -> None:
        """
        A request the connection dropped under is made again by the next
        message of the conversation.
        """
        session, transport = self.joined()
        session.input_line("bob*hi")
        self.assertEqual(transport.sent()[0], f"/history bob {PRIVATE_PAST}")
        session.private_past.reset()
        session.input_line("bob*again")
        self.assertEqual(transport.sent()[0], f"/history bob {PRIVATE_PAST}")

    def test_opened_asks(self) -> None:
        """
        A conversation opened before anything is said in it (C{/go bob})
        asks for its past once; one opened while away asks nothing (the
        first message after the rejoin does).
        """
        session, transport = self.joined()
        session.opened_private("bob")
        self.assertEqual(transport.sent(), [f"/history bob {PRIVATE_PAST}"])
        session.opened_private("Bob")
        session.input_line("bob*hi")
        self.assertEqual(transport.sent(), ["bob*hi"])
        transport.server_close(Failure(ConnectionLost("gone")))
        session.opened_private("carol")
        self.assertEqual(transport.sent(), [])


class PrivatePastViewTests(ConversationTestCase):
    """
    The full-screen view shows a replayed conversation in its own tab,
    whoever sent each line, marked as history, and not in ALL.
    """

    def test_replay_in_its_tab(self) -> None:
        self.assertTrue(TUIView.fills_private_tabs)
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.feed("private", **past("alice", "dave", "yesterday", "dave"))
        self.feed("private", **past("dave", "alice", "before", "dave"))
        self.feed("history-end", count=2, room=None, missed=False, **{"with": "dave"})
        self.assertEqual(self.bar(), "1:ALL  2:dave")
        # ALL: the live message only.
        self.assertEqual(self.scrollback(), ["15:43:16 [private] dave: psst"])
        self.send("/go dave")
        self.assertEqual(self.session.opened, ["dave"])
        self.assertEqual(
            self.scrollback()[:4],
            [
                "15:43:16 dave: psst",
                "15:43:16 [history] alice: yesterday",
                "15:43:16 [history] dave: before",
                "15:43:16 * end of history (2 messages)",
            ],
        )
