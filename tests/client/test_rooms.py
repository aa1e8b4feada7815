"""
Tests for rooms in the client: the room state (L{chat.client.rooms}), the
session's handling of room events and of reconnections, the plain lines of
the scriptable view, and the conversations of the full-screen view.

The server is played as in L{tests.client.test_session} (JSON events fed
to a L{StringTransport}, a L{Clock}) and the screen as in
L{tests.client.test_tui} (canvases rendered at 80x24, no terminal).
"""

from __future__ import annotations

import io
import json
from datetime import UTC
from typing import Any

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from chat.client import cipher
from chat.client.format import plain
from chat.client.rooms import Rooms, room_line
from chat.client.script import ScriptView
from chat.client.session import (
    MODE_REFUSED,
    SYNC_LINE,
    ClientSession,
    Said,
    Status,
    classify,
)
from chat.client.tui import TUIView
from chat.core.names import is_room
from tests.client import test_session as session_tests
from tests.client import test_tui as tui_tests
from tests.client.test_session import FakeTransport, event

CHESS: dict[str, Any] = {
    "room": "#chess",
    "members": ["alice", "bob", "carol"],
    "count": 3,
    "topic": "Tuesday club",
    "owner": "bob",
    "invite_only": False,
    "created": False,
    "rejoined": False,
}


def joined(**changes: Any) -> dict[str, Any]:
    """
    A C{room-joined} event for #chess (alice, bob and carol; bob owns it).
    """
    return event("room-joined", **{**CHESS, **changes})


def said(room: str, sender: str, text: str, **extra: Any) -> dict[str, Any]:
    """
    A room message event.
    """
    return event("message", **{"from": sender}, room=room, text=text, **extra)


def json_line(value: dict[str, Any]) -> bytes:
    """
    C{value} as the server sends it: one JSON line.
    """
    return json.dumps(value).encode("utf-8") + b"\n"


class RoomNameTests(SynchronousTestCase):
    """
    Room names and C{#room*TEXT} lines, as the protocol defines them.
    """

    def test_is_room(self) -> None:
        """
        C{#} and 1 to 32 characters without white space, C{*}, C{,} or
        control characters.
        """
        for good in ("#chess", "#a", "#" + "x" * 32, "#Ünï-çødé"):
            self.assertTrue(is_room(good), good)
        for bad in ("chess", "#", "#" + "x" * 33, "#a b", "#a,b", "#a*b", "#a\x07"):
            self.assertFalse(is_room(bad), bad)

    def test_room_line(self) -> None:
        """
        Only a room name before the first C{*} makes a room message; the
        text is kept as typed.
        """
        self.assertEqual(room_line("#chess*e4? 2*3"), ("#chess", "e4? 2*3"))
        self.assertEqual(room_line("#chess* spaced"), ("#chess", " spaced"))
        self.assertIsNone(room_line("#1 priority*now"))
        self.assertIsNone(room_line("bob*hi"))
        self.assertIsNone(room_line("#chess"))

    def test_classify(self) -> None:
        """
        C{#room*TEXT} and C{/say #room TEXT} are messages to the room; other
        room commands are not messages.
        """
        self.assertEqual(classify("#chess*e4"), Said("message", "e4", room="#chess"))
        self.assertEqual(
            classify("/say #chess e4 now"),
            Said("message", "e4 now", None, "say", "#chess"),
        )
        for command in ("/say #chess", "/say chess e4", "/join #chess", "/rooms"):
            self.assertIsNone(classify(command), command)
        self.assertEqual(classify("bob*hi"), Said("private", "hi", "bob"))
        self.assertEqual(classify("hi"), Said("message", "hi"))


class RoomStateTests(SynchronousTestCase):
    """
    L{Rooms} follows the room events.
    """

    def setUp(self) -> None:
        self.rooms = Rooms()

    def update(self, kind: str, **fields: Any) -> None:
        self.rooms.update(event(kind, **fields), "alice")

    def test_joined(self) -> None:
        """
        C{room-joined} records the room, its members, count, topic, owner and
        mode, and that the user is in it.
        """
        room = self.rooms.update(joined(room="#Chess", invite_only=True), "alice")
        self.assertIs(room, self.rooms.get("#CHESS"))
        assert room is not None
        self.assertEqual(room.name, "#Chess")
        self.assertTrue(room.member)
        self.assertEqual(room.members, ["alice", "bob", "carol"])
        self.assertEqual(
            (room.count, room.topic, room.owner), (3, "Tuesday club", "bob")
        )
        self.assertTrue(room.invite_only)
        self.assertEqual([r.name for r in self.rooms.joined()], ["#Chess"])

    def test_big_room(self) -> None:
        """
        Above 50 members the server sends no list: the members are unknown,
        and joins and leaves only change the count.
        """
        self.rooms.update(joined(room="#big", members=[], count=812), "alice")
        self.update("room-join", room="#big", name="dave")
        room = self.rooms.get("#big")
        assert room is not None
        self.assertIsNone(room.members)
        self.assertEqual(room.count, 813)
        self.update("room-leave", room="#big", name="dave", reason=None, by=None)
        self.assertEqual(room.count, 812)

    def test_join_leave_kick(self) -> None:
        """
        Members come and go (case-insensitively); a kicked operator is no
        longer one; the user's own leaving ends its membership.
        """
        self.rooms.update(joined(), "alice")
        self.update("room-join", room="#chess", name="dave")
        self.update("room-join", room="#CHESS", name="Dave")  # told twice
        self.update("room-op", room="#chess", name="dave", by="bob", op=True)
        self.update("room-leave", room="#chess", name="DAVE", reason="spam", by="bob")
        self.update("room-leave", room="#chess", name="carol", reason=None, by=None)
        room = self.rooms.get("#chess")
        assert room is not None
        self.assertEqual(room.members, ["alice", "bob"])
        self.assertEqual(room.count, 2)
        self.assertEqual(room.operators, set())
        self.assertTrue(room.member)
        self.update("room-leave", room="#chess", name="Alice", reason=None, by=None)
        self.assertFalse(room.member)
        self.assertEqual(self.rooms.joined(), [])

    def test_topic_mode_op_members(self) -> None:
        """
        Topic, mode, operators and C{/who} replies update the room; the
        owner and operators are marked like the server marks them.
        """
        self.rooms.update(joined(), "alice")
        self.update("room-topic", room="#chess", topic="Blitz", by="bob")
        self.update("room-mode", room="#chess", invite_only=True, by="bob")
        self.update("room-op", room="#chess", name="carol", by="bob", op=True)
        room = self.rooms.get("#chess")
        assert room is not None
        self.assertEqual((room.topic, room.invite_only), ("Blitz", True))
        self.assertEqual(
            [room.marked(m) for m in room.members or ()], ["alice", "@bob", "+carol"]
        )
        self.update("room-op", room="#chess", name="Carol", by="bob", op=False)
        self.update("room-topic", room="#chess", topic="", by="bob")
        self.assertEqual(room.operators, set())
        self.assertIsNone(room.topic)
        self.update(
            "room-members",
            room="#chess",
            members=["bob", "erin"],
            owner="bob",
            operators=["erin"],
            count=2,
        )
        self.assertEqual(room.members, ["bob", "erin"])
        self.assertEqual(room.count, 2)
        self.assertEqual(room.marked("ERIN"), "+ERIN")

    def test_rooms_list_and_invitation(self) -> None:
        """
        C{/rooms} tells which rooms exist and which the user is in; an
        invitation records the room.  Events about unknown rooms change
        nothing.
        """
        self.update(
            "rooms",
            rooms=[
                {
                    "room": "#chess",
                    "count": 3,
                    "topic": "x",
                    "invite_only": False,
                    "member": True,
                },
                {
                    "room": "#go",
                    "count": 1,
                    "topic": None,
                    "invite_only": True,
                    "member": False,
                },
            ],
        )
        self.update("room-invite", room="#secret", by="bob")
        self.update("room-topic", room="#nowhere", topic="t", by="bob")
        self.assertEqual([r.name for r in self.rooms], ["#chess", "#go", "#secret"])
        self.assertEqual([r.name for r in self.rooms.joined()], ["#chess"])
        secret = self.rooms.get("#secret")
        assert secret is not None
        self.assertTrue(secret.invited)
        self.rooms.update(joined(room="#secret"), "alice")
        self.assertFalse(secret.invited)
        self.assertIsNone(self.rooms.get("#nowhere"))


class RoomFormatTests(SynchronousTestCase):
    """
    L{plain}: one line per room event, from its fields, in the style of the
    other lines.
    """

    def test_messages(self) -> None:
        """
        A room message starts with the room; history is marked with its
        time, what was missed while away with its date too.
        """
        self.assertEqual(plain(said("#chess", "bob", "e4?")), "#chess bob: e4?")
        self.assertEqual(
            plain(said("#chess", "bob", "e4?", history=True)),
            "[history 15:48] #chess bob: e4?",
        )
        missed = {**said("#chess", "bob", "e4?", history=True, missed=True)}
        missed["time"] = "2026-11-20T14:03:00Z"
        self.assertEqual(
            plain(missed), "[missed, sent 2026-11-20 14:03] #chess bob: e4?"
        )
        self.assertEqual(
            plain(event("message", **{"from": "bob"}, text="hi", room=None)), "bob: hi"
        )

    def test_history_ends(self) -> None:
        """
        The end of a room's history and of what was missed name the room.
        """
        ends = [
            event("history-end", room="#chess", count=1, missed=False),
            event("history-end", room="#chess", count=0, missed=False),
            event("history-end", room="#chess", count=3, missed=True),
            event("history-end", room="#chess", count=0, missed=True),
            event("history-end", room=None, count=2, missed=False),
        ]
        self.assertEqual(
            [plain(e) for e in ends],
            [
                "* end of #chess history (1 message)",
                "* no history in #chess yet",
                "* end of what you missed in #chess (3 messages)",
                "* nothing missed in #chess",
                "* end of history (2 messages)",
            ],
        )

    def test_joined(self) -> None:
        """
        Joining, creating and being put back in a room list the members (or
        their count in a big room), the mode and the topic.
        """
        self.assertEqual(
            plain(joined()),
            "* joined #chess (3 members: alice, bob, carol); topic: Tuesday club",
        )
        self.assertEqual(
            plain(joined(created=True, members=["alice"], count=1, topic=None)),
            "* created #chess (1 member: alice); you own it",
        )
        self.assertEqual(
            plain(joined(rejoined=True, invite_only=True)),
            "* back in #chess (3 members: alice, bob, carol; invite-only); "
            "topic: Tuesday club",
        )
        self.assertEqual(
            plain(joined(room="#big", members=[], count=812, topic="")),
            "* joined #big (812 members)",
        )

    def test_room_events(self) -> None:
        """
        Joins, leaves, kicks, topics, modes, invitations and operators.
        """
        lines = {
            "* carol joined #chess": event("room-join", room="#chess", name="carol"),
            "* carol left #chess (bedtime)": event(
                "room-leave", room="#chess", name="carol", reason="bedtime", by=None
            ),
            "* carol left #chess": event(
                "room-leave", room="#chess", name="carol", reason=None, by=None
            ),
            "* carol was kicked from #chess by bob (spam)": event(
                "room-leave", room="#chess", name="carol", reason="spam", by="bob"
            ),
            "* bob set the topic of #chess: Blitz": event(
                "room-topic", room="#chess", topic="Blitz", by="bob"
            ),
            "* bob cleared the topic of #chess": event(
                "room-topic", room="#chess", topic=None, by="bob"
            ),
            "* topic of #chess: Blitz": event(
                "room-topic", room="#chess", topic="Blitz", by=None
            ),
            "* #chess has no topic": event(
                "room-topic", room="#chess", topic="", by=None
            ),
            "* bob made #chess invite-only": event(
                "room-mode", room="#chess", invite_only=True, by="bob"
            ),
            "* bob opened #chess to everyone": event(
                "room-mode", room="#chess", invite_only=False, by="bob"
            ),
            "* bob invites you to #chess; /join #chess to accept": event(
                "room-invite", room="#chess", by="bob"
            ),
            "* dave is invited to #chess": event(
                "room-invited", room="#chess", name="dave"
            ),
            "* bob made carol an operator of #chess": event(
                "room-op", room="#chess", name="carol", by="bob", op=True
            ),
            "* bob removed carol as an operator of #chess": event(
                "room-op", room="#chess", name="carol", by="bob", op=False
            ),
        }
        for line, room_event in lines.items():
            self.assertEqual(plain(room_event), line)

    def test_lists(self) -> None:
        """
        C{/rooms} and C{/who #room} replies are one line each.
        """
        rooms = event(
            "rooms",
            rooms=[
                {
                    "room": "#chess",
                    "count": 3,
                    "topic": "Tuesday club",
                    "invite_only": False,
                    "member": True,
                },
                {
                    "room": "#secret",
                    "count": 1,
                    "topic": None,
                    "invite_only": True,
                    "member": False,
                },
            ],
        )
        self.assertEqual(
            plain(rooms),
            "* rooms (2): #chess (3 members, joined): Tuesday club; "
            "#secret (1 member, invite-only)",
        )
        self.assertEqual(
            plain(event("rooms", rooms=[])), "* no rooms yet; /join #name makes one"
        )
        members = event(
            "room-members",
            room="#chess",
            members=["alice", "bob", "carol"],
            owner="alice",
            operators=["bob"],
            count=3,
        )
        self.assertEqual(plain(members), "* members of #chess (3): @alice, +bob, carol")


class RoomSessionTests(session_tests.SessionTestCase):
    """
    The session keeps the room state, sends room messages (shifted with the
    cipher) and shows room events.
    """

    def test_state_and_events(self) -> None:
        """
        Room events reach the view after the room state is updated, so a
        view reading the state sees what the event says.
        """
        session, transport = self.joined()
        counts: list[int | None] = []

        class Looking(session_tests.FakeView):
            def show(self, shown: dict[str, Any]) -> None:
                room = session.rooms.get("#chess")
                counts.append(None if room is None else room.count)
                super().show(shown)

        session.view = view = Looking()
        transport.receive_event("room-joined", **CHESS)
        transport.receive_event("room-join", room="#chess", name="dave")
        transport.receive(json_line(said("#chess", "bob", "hi")))
        self.assertEqual(counts, [3, 4, 4])
        self.assertEqual(
            [e["type"] for e in view.events], ["room-joined", "room-join", "message"]
        )
        self.assertEqual(view.errors, [])

    def test_cipher(self) -> None:
        """
        The cipher shifts the text of room messages sent either way, and
        undoes it for room messages received.
        """
        session, transport = self.joined(shift_cipher=True)
        session.input_line("#chess*abc")
        session.input_line("/say #chess xyz")
        self.assertEqual(
            transport.sent(), ["#chess*[shift] bcd", "/say #chess [shift] yza"]
        )
        self.assertEqual(
            self.view.saids,
            [
                Said("message", "abc", room="#chess"),
                Said("message", "xyz", None, "say", "#chess"),
            ],
        )
        transport.receive_event(
            "message", **{"from": "bob"}, room="#chess", text=cipher.encode("hi")
        )
        self.assertEqual(self.view.events[-1]["text"], "hi")
        self.assertTrue(self.view.events[-1]["shifted"])


class RejoinTests(session_tests.SessionTestCase):
    """
    After a reconnection the session puts the user back in its rooms, unless
    the server already did.
    """

    def in_rooms(
        self, *names: str, **options: Any
    ) -> tuple[ClientSession, FakeTransport]:
        """
        A session joined as alice and in the rooms C{names}.
        """
        session, transport = self.joined(**options)
        self.session = session
        for name in names:
            transport.receive_event("room-joined", **{**CHESS, "room": name})
        return session, transport

    def drop(self, transport: FakeTransport) -> FakeTransport:
        """
        Lose the connection and let the session connect again.
        """
        transport.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        again = self.endpoint.last
        self.assertIsNot(again, transport)
        again.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(again.sent(), ["/mode json", "alice"])
        return again

    def test_guest_rejoins_before_pending_lines(self) -> None:
        """
        A guest's rooms are joined again right after the welcome, before the
        lines typed while away (which may be for those rooms); a room left
        is not joined again.
        """
        session, transport = self.in_rooms("#chess", "#go", "#Tea")
        transport.receive_event(
            "room-leave", room="#go", name="alice", reason=None, by=None
        )
        again = self.drop(transport)
        session.input_line("#chess*back")
        self.assertEqual(again.sent(), [])
        self.welcome(again)
        self.assertEqual(again.sent(), ["/join #chess", "/join #Tea", "#chess*back"])
        again.receive_event("room-joined", **CHESS)
        again.receive_event("room-joined", **{**CHESS, "room": "#tea"})
        self.assertEqual([r.name for r in session.rooms.joined()], ["#chess", "#Tea"])
        self.assertEqual(self.view.errors, [])

    def test_rejoin_says_the_newest_id_shown(self) -> None:
        """
        A room whose lines had history ids is joined again with the newest
        of them (C{/join #room ID}: only what was missed); another room's
        ids do not count for it.
        """
        session, transport = self.in_rooms("#chess", "#go")
        for ident, room in ((4, "#chess"), (7, "#chess"), (8, "#other")):
            transport.receive_event(
                "message", **{"from": "bob"}, text="x", room=room, id=ident
            )
        again = self.drop(transport)
        self.welcome(again)
        self.assertEqual(again.sent(), ["/join #chess 7", "/join #go"])

    def test_rooms_kept_while_away(self) -> None:
        """
        While the connection is down the rooms still count as the user's:
        they are what it is put back in.
        """
        session, transport = self.in_rooms("#chess")
        transport.server_close(Failure(ConnectionLost("gone")))
        self.assertEqual([r.name for r in session.rooms.joined()], ["#chess"])

    def test_already_in_room_is_silent(self) -> None:
        """
        If the server already put the user back, the refusal of the rejoin
        is not shown; the same refusal of a join the user typed is.
        """
        session, transport = self.in_rooms("#chess")
        again = self.drop(transport)
        self.welcome(again)
        self.assertEqual(again.sent(), ["/join #chess"])
        again.receive_event("error", code="already-in-room", text="already in #chess")
        self.assertEqual(self.view.errors, [])
        session.input_line("/join #chess")
        again.receive_event("error", code="already-in-room", text="already in #chess")
        self.assertEqual(self.view.errors, ["ERROR: already in #chess"])

    def test_refused_rejoin(self) -> None:
        """
        A rejoin refused for another reason is shown and explained, and the
        user is no longer counted in the room; the next answer goes to the
        next rejoin.
        """
        session, transport = self.in_rooms("#secret", "#chess")
        again = self.drop(transport)
        self.welcome(again)
        self.assertEqual(again.sent(), ["/join #secret", "/join #chess"])
        again.receive_event("error", code="invite-only", text="#secret is invite-only")
        again.receive_event("error", code="already-in-room", text="already in #chess")
        self.assertEqual(self.view.errors, ["ERROR: #secret is invite-only"])
        self.assertIn("could not rejoin #secret after reconnecting", self.view.notices)
        self.assertEqual([r.name for r in session.rooms.joined()], ["#chess"])

    def log_in_again(self, transport: FakeTransport, *typed: str) -> FakeTransport:
        """
        Lose the connection, type lines meanwhile; the session logs in
        again with its password.
        """
        transport.server_close(Failure(ConnectionLost("gone")))
        for line in typed:
            self.session.input_line(line)
        self.clock.advance(2)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        again.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(again)
        return again

    def test_registered_put_back_by_server(self) -> None:
        """
        A registered user asks the server for a sign (L{SYNC_LINE}) after
        the welcome; by its answer the server has said which rooms it put
        the user back in (with what it missed), and only the others are
        joined again.
        """
        session, transport = self.in_rooms("#chess", "#go", password="hunter22")
        again = self.log_in_again(transport, "#chess*back")
        self.assertEqual(
            again.sent(), ["/mode json", "alice", "hunter22", "#chess*back", SYNC_LINE]
        )
        again.receive_event("stored-end", count=0)
        again.receive_event("room-joined", **{**CHESS, "rejoined": True})
        again.receive(
            json_line(
                said("#chess", "bob", "while you were out", history=True, missed=True)
            )
        )
        again.receive_event("history-end", room="#chess", count=1, missed=True)
        self.assertEqual(again.sent(), [])
        again.receive_event("mode", mode="json", text="* Output mode is now json.")
        self.assertEqual(again.sent(), ["/join #go"])
        self.assertEqual(
            [e["type"] for e in self.view.events[-4:]],
            ["stored-end", "room-joined", "message", "history-end"],
        )
        again.receive_event("mode", mode="json", text="* Output mode is now json.")
        self.assertEqual(again.sent(), [])

    def test_registered_all_put_back(self) -> None:
        """
        When the server put the user back in every room, nothing is joined;
        without rooms no sign is asked for.
        """
        session, transport = self.in_rooms("#chess", password="hunter22")
        again = self.log_in_again(transport)
        again.receive_event("stored-end", count=0)
        again.receive_event("room-joined", **{**CHESS, "rejoined": True})
        again.receive_event("mode", mode="json", text="")
        self.assertEqual(again.sent(), ["/mode json", "alice", "hunter22", SYNC_LINE])
        again.receive_event(
            "room-leave", room="#chess", name="alice", reason=None, by=None
        )
        third = self.log_in_again(again)
        self.assertEqual(third.sent(), ["/mode json", "alice", "hunter22"])
        self.assertEqual(self.view.errors, [])

    def test_rejoin_forgotten_on_drop(self) -> None:
        """
        Unanswered rejoins die with their connection: on the next one an
        C{already-in-room} the user caused is shown.
        """
        session, transport = self.in_rooms("#chess")
        again = self.drop(transport)
        self.welcome(again)
        again.receive_event(
            "room-leave", room="#chess", name="alice", reason=None, by=None
        )
        third = self.drop(again)
        self.welcome(third)
        self.assertEqual(third.sent(), [])
        session.input_line("/join #go")
        third.receive_event("error", code="already-in-room", text="already in #go")
        self.assertEqual(self.view.errors, ["ERROR: already in #go"])

    def test_not_on_another_server(self) -> None:
        """
        C{/connect} to another server forgets the rooms of the first one.
        """
        other = session_tests.FakeEndpoint(self.clock)
        session = ClientSession(
            self.view,
            self.endpoint,
            server=session_tests.SERVER,
            tls=False,
            clock=self.clock,
            name="alice",
            endpoint_for=lambda host, port: (other, f"{host}:{port}"),
        )
        session.start()
        first = self.endpoint.last
        first.receive_event("prompt", prompt="name", text="name?")
        self.welcome(first)
        first.receive_event("room-joined", **CHESS)
        session.input_line("/connect example.org 4040")
        self.settle()
        other.last.receive_event("prompt", prompt="name", text="name?")
        self.welcome(other.last)
        self.assertEqual(other.last.sent(), ["/mode json", "alice"])
        self.assertIsNone(session.rooms.get("#chess"))


class RoomScriptTests(session_tests.SessionTestCase):
    """
    The scriptable view prints room events as plain lines.
    """

    def test_login_into_rooms(self) -> None:
        """
        A registered user put back in a room at login sees the room, what it
        missed (marked) and the end of it; then live room traffic.
        """
        out, err = io.StringIO(), io.StringIO()
        view = ScriptView(out, err)
        session = ClientSession(
            view,
            self.endpoint,
            server=session_tests.SERVER,
            tls=False,
            clock=self.clock,
            name="alice",
            password="hunter22",
        )
        view.session = session
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(transport)
        transport.receive_event("room-joined", **{**CHESS, "rejoined": True})
        missed = said("#chess", "bob", "your move", history=True, missed=True)
        missed["time"] = "2026-11-20T21:15:00.000Z"
        transport.receive(json_line(missed))
        transport.receive_event("history-end", room="#chess", count=1, missed=True)
        transport.receive_event("stored-end", count=0)
        transport.receive(json_line(said("#chess", "carol", "e5")))
        transport.receive_event(
            "room-leave", room="#chess", name="carol", reason="bedtime", by=None
        )
        self.assertEqual(
            out.getvalue().splitlines(),
            [
                "* joined as alice; 2 online: alice, bob",
                "* back in #chess (3 members: alice, bob, carol); topic: Tuesday club",
                "[missed, sent 2026-11-20 21:15] #chess bob: your move",
                "* end of what you missed in #chess (1 message)",
                "#chess carol: e5",
                "* carol left #chess (bedtime)",
            ],
        )
        self.assertEqual(err.getvalue(), "")
        self.assertEqual(transport.sent()[-1:], ["hunter22"])


class ConversationTestCase(tui_tests.ViewTestCase):
    """
    A view signed in as alice, with a fake session whose room state follows
    the events shown, as the real session's does.
    """

    def setUp(self) -> None:
        super().setUp()
        self.view.status_changed(
            Status(server="h:1", tls=False, connected=True, name="alice", users=4)
        )

    def feed(self, kind: str, **fields: Any) -> None:
        """
        The session got an event of type C{kind}: update the rooms, then
        show it.
        """
        shown = {"type": kind, "time": "2026-11-21T15:43:16.123Z", "from": None}
        shown.update(fields)
        self.session.rooms.update(shown, "alice")
        self.view.show(shown)

    def in_chess(self, **changes: Any) -> None:
        """
        alice typed C{/join #chess} and the server said she joined.
        """
        room = {**CHESS, **changes}
        self.type(f"/join {room['room']}")
        self.press("enter")
        self.feed("room-joined", **room)

    def send(self, text: str) -> None:
        self.type(text)
        self.press("enter")

    def bar(self) -> str:
        return self.screen()[-3].strip()


class ConversationTests(ConversationTestCase):
    """
    Conversations: a scrollback each, a bar with unread counts, switching.
    """

    def test_no_bar_with_only_all(self) -> None:
        """
        Until there is a second conversation the screen is as before rooms:
        no bar, 22 rows of scrollback.
        """
        self.view.show(tui_tests.message("bob", "hi"))
        screen = self.screen()
        self.assertEqual(screen[-3], "15:43:16 bob: hi")  # no bar above it
        self.assertTrue(screen[-2].startswith(" h:1 | alice"))

    def test_join_opens_and_shows_room(self) -> None:
        """
        A room the user joined gets a conversation, shown at once, with the
        join line, its history and its members and topic on the status line.
        """
        self.view.show(tui_tests.message("bob", "before"))
        self.in_chess()
        self.feed("message", **{"from": "bob"}, room="#chess", text="e4?", history=True)
        self.feed("history-end", room="#chess", count=1, missed=False)
        screen = self.scrollback()
        self.assertEqual(
            screen[:3],
            [
                "15:43:16 * joined #chess (3 members: alice, bob, carol); topic: "
                "Tuesday club",
                "15:43:16 [history] bob: e4?",
                "15:43:16 * end of #chess history (1 message)",
            ],
        )
        self.assertNotIn("15:43:16 bob: before", screen)
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertEqual(self.attrs_of("1:ALL", "2:#chess"), {"bar current"})
        self.assertEqual(
            self.status_line(),
            # Shortened at 80 columns, so that the connection's facts stay.
            "#chess (3): alice, @bob, carol\N{HORIZONTAL ELLIPSIS} | h:1 | alice | "
            "plain | connected | 4 online",
        )

    def test_rejoined_not_shown(self) -> None:
        """
        A room the server put the user back in at login opens a conversation
        but does not take the screen; what was missed counts as unread.
        """
        self.feed("room-joined", **{**CHESS, "rejoined": True})
        self.feed(
            "message",
            **{"from": "bob"},
            room="#chess",
            text="your move",
            history=True,
            missed=True,
        )
        self.feed("history-end", room="#chess", count=1, missed=True)
        self.assertEqual(self.scrollback(), [])
        self.assertEqual(self.bar(), "1:ALL  2:#chess (1)")
        self.assertEqual(self.attrs_of("1:ALL", "(1)"), {"bar unread"})
        self.press("meta right")
        self.assertEqual(
            self.scrollback()[:3],
            [
                "15:43:16 * back in #chess (3 members: alice, bob, carol); topic: "
                "Tuesday club",
                "15:43:16 [missed] bob: your move",
                "15:43:16 * end of what you missed in #chess (1 message)",
            ],
        )
        self.assertEqual(self.bar(), "1:ALL  2:#chess")

    def test_session_rejoin_not_shown(self) -> None:
        """
        A room joined without the user asking (the session putting it back
        after a reconnection) does not take the screen either.
        """
        self.feed("room-joined", **CHESS)
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertTrue(self.status_line().startswith("h:1 | alice"))

    def test_unread_counts(self) -> None:
        """
        Messages to a conversation not shown are counted in the bar until it
        is shown; notices and history are not counted.
        """
        self.in_chess()
        self.press("ctrl p")  # back to ALL
        for text in ("e4", "e5"):
            self.feed("message", **{"from": "bob"}, room="#chess", text=text)
        self.feed("room-join", room="#chess", name="dave")
        self.feed("message", **{"from": "bob"}, room="#chess", text="old", history=True)
        self.assertEqual(self.bar(), "1:ALL  2:#chess (2)")
        self.assertEqual(self.scrollback(), [])  # nothing of the room in ALL
        self.press("ctrl n")
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertIn("15:43:16 bob: e5", self.screen())
        self.feed("message", **{"from": "bob"}, text="to all")
        self.assertEqual(self.bar(), "1:ALL (1)  2:#chess")
        self.assertNotIn("15:43:16 bob: to all", self.screen())

    def test_switch_keys(self) -> None:
        """
        Alt-Right/Ctrl-N and Alt-Left/Ctrl-P go round the conversations;
        Alt-NUMBER goes to one.
        """
        self.in_chess()
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        current = []
        for key in (
            "meta right",
            "meta right",
            "meta left",
            "ctrl n",
            "ctrl p",
            "meta 1",
            "meta 3",
            "meta 9",
        ):
            self.press(key)
            current.append(self.status_line().split(" | ")[0])
        self.assertEqual(
            current,
            [
                "private with dave",
                "h:1",
                "private with dave",
                "h:1",
                "private with dave",
                "h:1",
                "private with dave",
                "private with dave",
            ],
        )
        self.assertIn("there is no conversation 9", self.scrollback()[1])

    def test_go(self) -> None:
        """
        C{/go} lists the conversations with their unread messages;
        C{/go ALL|#room|NAME|NUMBER} shows one, a private one is made for
        a name; C{/go} is not sent to the server.
        """
        self.in_chess()
        self.press("meta 1")
        self.feed("message", **{"from": "bob"}, room="#chess", text="e4")
        self.send("/go")
        self.assertIn(
            "15:43:16 * conversations: 1 ALL, 2 #chess (1 new); /go NUMBER, #ROOM "
            "or NAME",
            self.screen(),
        )
        self.send("/go #CHESS")
        self.assertTrue(self.status_line().startswith("#chess (3)"))
        self.send("/go CAROL")
        self.assertEqual(self.bar(), "1:ALL  2:#chess  3:carol")
        self.assertEqual(
            self.status_line().split(" | ")[0], "private with carol (online)"
        )
        self.send("/go all")
        self.assertTrue(self.status_line().startswith("h:1"))
        self.send("/go 2")
        self.assertTrue(self.status_line().startswith("#chess"))
        self.send("/go #nowhere")
        self.send("/go a b")
        screen = self.screen()
        self.assertIn(
            "15:43:16 ERROR: you are not in #nowhere; /join #nowhere first.", screen
        )
        self.assertIn(
            "15:43:16 ERROR: usage: /go [ALL | #ROOM | NAME | NUMBER]", screen
        )
        self.assertEqual(self.session.lines, ["/join #chess"])

    def test_close(self) -> None:
        """
        C{/close} drops the current conversation (never ALL); a room the
        user is still in comes back with its next message, received or
        sent.
        """
        self.send("/close")
        self.assertIn("15:43:16 ERROR: ALL cannot be closed.", self.screen())
        self.in_chess()
        self.send("/close")
        self.assertNotIn("1:ALL", self.screen()[-3])  # no bar: only ALL is left
        self.assertIn(
            "15:43:16 * still in #chess; /leave #chess leaves it", self.screen()
        )
        self.feed("message", **{"from": "bob"}, room="#chess", text="e4")
        self.assertEqual(self.bar(), "1:ALL  2:#chess (1)")
        self.press("meta 2")
        self.send("/close")
        self.send("#chess*e5")
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertIn("15:43:16 #chess alice: e5", self.screen())
        self.press("meta 2")
        self.assertEqual(self.scrollback()[0], "15:43:16 alice: e5")


class ConversationInputTests(ConversationTestCase):
    """
    What a line typed in a conversation becomes, and where it is echoed.
    """

    def test_room_conversation(self) -> None:
        """
        In a room, a line with no address goes to the room and is echoed
        there; commands, keywords and addressed lines go as typed.
        """
        self.in_chess()
        for line in (
            "e4 2*3",
            "/who #chess",
            "bob*psst",
            "#go*hi",
            "ALL*hey",
            "SEND x",
        ):
            self.send(line)
        self.view.answered(True)  # bob*psst delivered
        self.assertEqual(
            self.session.lines,
            [
                "/join #chess",
                "#chess*e4 2*3",
                "/who #chess",
                "bob*psst",
                "#go*hi",
                "ALL*hey",
                "SEND x",
            ],
        )
        screen = self.screen()
        self.assertIn("15:43:16 alice: e4 2*3", screen)
        self.assertIn("15:43:16 [private to bob] alice: psst", screen)
        self.assertIn("15:43:16 #go alice: hi", screen)
        self.assertIn("15:43:16 [to ALL] alice: hey", screen)
        self.assertEqual(self.attrs_of("alice: hi", "#go"), {"room"})

    def test_private_conversation(self) -> None:
        """
        In a private conversation a line goes to the correspondent; the
        conversation shows both sides without markers, and ALL keeps every
        private message, marked, as before.
        """
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.assertEqual(self.bar(), "1:ALL  2:dave")  # seen in ALL: not unread
        self.send("/go dave")
        self.send("hi dave")
        self.assertEqual(self.session.lines, ["dave*hi dave"])
        self.feed("join", name="erin")  # not an answer: still being sent
        self.assertEqual(self.scrollback()[1], "15:43:16 [sending] alice: hi dave")
        self.view.answered(True)  # delivered
        self.assertEqual(
            self.scrollback()[:2], ["15:43:16 dave: psst", "15:43:16 alice: hi dave"]
        )
        self.assertEqual(self.attrs_of("hi dave", ": hi dave"), {"private text"})
        self.assertEqual(self.status_line().split(" | ")[0], "private with dave")
        self.press("meta 1")
        self.assertEqual(
            self.scrollback()[:2],
            [
                "15:43:16 [private] dave: psst",
                "15:43:16 [private to dave] alice: hi dave",
            ],
        )

    def test_private_unread_elsewhere(self) -> None:
        """
        A private message that arrives while a room is shown is unread in
        its conversation (not in ALL, which only mirrors it).
        """
        self.in_chess()
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.assertEqual(self.bar(), "1:ALL  2:#chess  3:dave (1)")

    def test_room_message_from_all(self) -> None:
        """
        C{#room*TEXT} typed in ALL goes as typed, echoed in the room and,
        marked with the room, in ALL.
        """
        self.in_chess()
        self.press("meta 1")
        self.send("#chess*e4")
        self.assertEqual(self.session.lines[-1], "#chess*e4")
        self.assertIn("15:43:16 #chess alice: e4", self.screen())
        self.press("meta 2")
        self.assertIn("15:43:16 alice: e4", self.screen())

    def test_replies_where_asked(self) -> None:
        """
        Errors and replies to commands show where the user is looking; a
        room's events go to the room; server-wide ones to ALL.
        """
        self.in_chess()
        self.press("meta 1")
        self.feed("room-join", room="#chess", name="dave")
        self.feed(
            "room-members",
            room="#chess",
            members=["alice", "bob"],
            owner="bob",
            operators=[],
            count=2,
        )
        self.feed("room-invite", room="#secret", by="bob")
        self.view.error("ERROR: nope")
        self.assertEqual(
            self.scrollback()[:3],
            [
                "15:43:16 * members of #chess (2): alice, @bob",
                "15:43:16 * bob invites you to #secret; /join #secret to accept",
                "15:43:16 ERROR: nope",
            ],
        )
        self.press("meta 2")
        self.feed("join", name="erin")
        self.feed("users", users=["alice", "bob"])
        screen = self.screen()
        self.assertIn("15:43:16 * dave joined #chess", screen)
        self.assertIn("15:43:16 * online (2): alice, bob", screen)
        self.assertNotIn("15:43:16 * erin joined", screen)

    def test_complete_room(self) -> None:
        """
        Tab completes room names; first on the line, one is addressed.
        """
        self.in_chess()
        self.type("#ch")
        self.press("tab")
        self.type("e4")
        self.assertEqual(self.input_line(), "> #chess*e4")


class RoomStatusTests(ConversationTestCase):
    """
    The status line of a room conversation follows the room.
    """

    def test_follows_room(self) -> None:
        """
        Joins, leaves, operators, topic and mode show on the status line at
        once; being kicked says so.
        """
        self.in_chess()
        self.feed("room-join", room="#chess", name="dave")
        self.feed("room-op", room="#chess", name="dave", by="bob", op=True)
        self.feed("room-leave", room="#chess", name="carol", reason=None, by=None)
        self.feed("room-topic", room="#chess", topic="Blitz", by="bob")
        self.feed("room-mode", room="#chess", invite_only=True, by="bob")
        self.assertEqual(
            self.status_line(),
            # Shortened at 80 columns: the room comes first, the facts stay.
            "#chess (3): alice, @bob, +dave\N{HORIZONTAL ELLIPSIS} | h:1 | alice | "
            "plain | connected | 4 online",
        )
        self.feed("room-leave", room="#chess", name="alice", reason="spam", by="bob")
        self.assertTrue(self.status_line().startswith("#chess: not in it | h:1"))
        self.assertEqual(self.attrs_of("not in it", "not in it"), {"status alert"})
        self.assertIn(
            "15:43:16 * alice was kicked from #chess by bob (spam)", self.screen()
        )
        self.press("meta 1")
        self.assertEqual(self.attrs_of("1:ALL", "2:#chess"), {"bar left"})

    def test_big_room(self) -> None:
        """
        A room too big to list shows its count; a long list is cut short.
        """
        self.in_chess(room="#big", members=[], count=812, topic=None)
        self.assertTrue(
            self.status_line().startswith("#big (812) | no topic | h:1"),
            self.status_line(),
        )
        names = [f"u{i}" for i in range(12)]
        self.in_chess(room="#mid", members=names, count=12, owner=None)
        wide = (160, 24)
        self.assertTrue(
            self.status_line(wide).startswith(
                "#mid (12): u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, ... | topic"
            ),
            self.status_line(wide),
        )


class FirstUsePrivateTests(ConversationTestCase):
    """
    Private messages as a first-time user met them (issue 16): shown as
    sent only once not refused; a conversation only for those accepted.
    """

    def test_refused_leaves_no_conversation(self) -> None:
        """
        C{dave*hi dave} to someone absent shows as being sent, then, refused,
        as not sent: no conversation is opened for dave.
        """
        self.send("dave*hi dave")
        self.assertEqual(
            self.scrollback(), ["15:43:16 [sending] [private to dave] alice: hi dave"]
        )
        self.view.answered(False)
        self.view.error("ERROR: dave is not online; /users lists who is.")
        self.assertEqual(
            self.scrollback(),
            [
                "15:43:16 [not sent] [private to dave] alice: hi dave",
                "15:43:16 ERROR: dave is not online; /users lists who is.",
            ],
        )
        self.assertEqual(self.attrs_of("[not sent]", "[not sent]"), {"error"})
        self.assertNotIn("1:ALL", self.screen()[-3])  # no bar: only ALL
        self.send("/go")
        self.assertIn(
            "15:43:16 * conversations: 1 ALL; /go NUMBER, #ROOM or NAME", self.screen()
        )

    def test_accepted_opens_conversation(self) -> None:
        """
        A private message the server did not refuse (here: stored for an
        offline registered user) shows as sent, and opens its conversation.
        """
        self.send("erin*see you")
        self.assertNotIn("1:ALL", self.screen()[-3])
        self.view.answered(True)
        self.feed("queued", to="erin", id=3, text="")
        self.assertIn("15:43:16 [private to erin] alice: see you", self.scrollback())
        self.assertEqual(self.bar(), "1:ALL  2:erin")
        self.press("meta 2")
        self.assertEqual(self.scrollback(), ["15:43:16 alice: see you"])

    def test_refused_in_conversation(self) -> None:
        """
        In an open conversation a refused message stays, marked not sent.
        """
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.press("meta 2")
        self.send("hi")
        self.view.answered(False)
        self.view.error("ERROR: dave is not online; /users lists who is.")
        self.assertIn("15:43:16 [not sent] alice: hi", self.scrollback())

    def test_left_marked(self) -> None:
        """
        The conversation of someone who left is marked in the bar and on the
        status line, says how to close it, and is unmarked when they are
        back.
        """
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.feed("leave", name="dave", reason=None)
        self.assertEqual(self.bar(), "1:ALL  2:dave (left)")
        self.assertEqual(self.attrs_of("1:ALL", "2:dave (left)"), {"bar left"})
        self.press("meta 2")
        self.assertEqual(
            self.scrollback()[-1],
            "15:43:16 * dave left; /close closes this conversation",
        )
        self.assertTrue(
            self.status_line().startswith("private with dave (left) | h:1"),
            self.status_line(),
        )
        self.feed("join", name="dave")
        self.assertEqual(self.scrollback()[-1], "15:43:16 * dave is back")
        self.press("meta 1")
        self.assertEqual(self.bar(), "1:ALL  2:dave")

    def test_close_another(self) -> None:
        """
        C{/close NAME} or C{/close NUMBER} closes a conversation without
        showing it (ALL stays; an unknown one is an error).
        """
        self.feed("private", **{"from": "dave"}, to="alice", text="psst")
        self.feed("private", **{"from": "erin"}, to="alice", text="yo")
        self.feed("leave", name="dave", reason=None)
        self.assertEqual(self.bar(), "1:ALL  2:dave (left)  3:erin")
        self.send("/close DAVE")
        self.assertEqual(self.bar(), "1:ALL  2:erin")
        self.send("/close 1")
        self.send("/close nobody")
        self.assertEqual(
            self.scrollback()[-2:],
            [
                "15:43:16 ERROR: ALL cannot be closed.",
                "15:43:16 ERROR: there is no conversation nobody; /go lists them.",
            ],
        )
        self.send("/close 2")
        self.assertNotIn("1:ALL", self.screen()[-3])  # no bar: only ALL

    def test_typed_while_away(self) -> None:
        """
        A private message typed while away is sent after the next login:
        what the login brings (welcome, history, stored messages) does not
        settle it; the refusal that follows does.
        """
        self.send("dave*are you there")
        self.feed("welcome", name="alice", users=["alice"], count=1)
        self.feed("history-end", room=None, count=0)
        self.feed("stored-end", count=0)
        self.assertNotIn("1:ALL", self.screen()[-3])
        self.assertIn(
            "15:43:16 [sending] [private to dave] alice: are you there",
            self.scrollback(),
        )
        self.view.answered(False)
        self.view.error("ERROR: dave is not online; /users lists who is.")
        self.assertIn(
            "15:43:16 [not sent] [private to dave] alice: are you there",
            self.scrollback(),
        )
        self.assertNotIn("1:ALL", self.screen()[-3])


class FirstUseStatusTests(ConversationTestCase):
    """
    The status line at 80 columns (issue 16).
    """

    def test_room_shortened_first(self) -> None:
        """
        A room with a long topic is shortened, with an ellipsis, so that the
        connection's facts stay whole at 80 columns.
        """
        self.in_chess(topic="Tuesday club: bring your own board, clock and snacks")
        line = self.status_line()
        self.assertTrue(
            line.endswith("| h:1 | alice | plain | connected | 4 online"), line
        )
        self.assertTrue(line.startswith("#chess (3): alice, @bob, carol"), line)
        self.assertIn("\N{HORIZONTAL ELLIPSIS} | h:1", line)
        wide = self.status_line((160, 24))
        self.assertIn(
            "topic: Tuesday club: bring your own board, clock and snacks | h:1", wide
        )


class ModeRefusedTests(session_tests.SessionTestCase):
    """
    C{/mode json|text} in the full-screen view, with a real session.
    """

    def test_mode_refused(self) -> None:
        """
        C{/mode text} is not sent (chat-client would hear nothing in text
        mode) and the user is told why; C{/mode #room +i} is a room's and
        goes.
        """
        view = TUIView(self.clock)
        self.view = view  # type: ignore[assignment]
        session, transport = self.joined()
        view.session = session
        for key in "/mode text":
            view.keypress(tui_tests.SIZE, key)
        view.keypress(tui_tests.SIZE, "enter")
        self.assertEqual(transport.sent(), [])
        screen = "\n".join(
            row.decode().rstrip() for row in view.widget.render((200, 24)).text
        )
        self.assertIn(MODE_REFUSED, screen)
        for key in "/mode #chess +i":
            view.keypress(tui_tests.SIZE, key)
        view.keypress(tui_tests.SIZE, "enter")
        self.assertEqual(transport.sent(), ["/mode #chess +i"])


class MentionViewTests(ConversationTestCase):
    """
    Mentions (issue 16): a message the server flags as naming the user is
    highlighted, counted apart in the bar, and rings the bell when its
    conversation is not in view.
    """

    def setUp(self) -> None:
        super().setUp()
        self.rings: list[None] = []
        self.view = TUIView(self.clock, tz=UTC, ring=lambda: self.rings.append(None))
        self.session = tui_tests.FakeSession(self.view, "bob", "carol")
        self.view.session = self.session
        self.view.status_changed(
            Status(server="h:1", tls=False, connected=True, name="alice", users=4)
        )

    def test_highlighted(self) -> None:
        """
        A mention's text is highlighted; another message's is not; in view
        and followed, it does not ring.
        """
        self.feed("message", **{"from": "bob"}, text="alice: lunch?", mention=True)
        self.feed("message", **{"from": "bob"}, text="anyone?")
        self.assertEqual(
            self.scrollback()[-2:],
            ["15:43:16 bob: alice: lunch?", "15:43:16 bob: anyone?"],
        )
        self.assertEqual(self.attrs_of("lunch?", ": alice: lunch?"), {"mention"})
        self.assertEqual(self.attrs_of("anyone?", ": anyone?"), {"text"})
        self.assertEqual(self.rings, [])

    def test_counted_apart_and_rings(self) -> None:
        """
        In a conversation not shown, mentions are counted apart from the
        unread messages, and each rings the bell once; showing it reads
        both.
        """
        self.in_chess()
        self.press("ctrl p")  # back to ALL
        self.feed("message", **{"from": "bob"}, room="#chess", text="e4")
        self.feed(
            "message", **{"from": "bob"}, room="#chess", text="Alice?", mention=True
        )
        self.feed(
            "action", **{"from": "bob"}, room="#chess", text="pokes alice", mention=True
        )
        self.assertEqual(self.bar(), "1:ALL  2:#chess (3) @2")
        self.assertEqual(self.attrs_of("1:ALL", "@2"), {"bar mention"})
        self.assertEqual(self.attrs_of("1:ALL", "(3)"), {"bar unread"})
        self.assertEqual(len(self.rings), 2)
        self.send("/go")
        self.assertIn("2 #chess (3 new, 2 mentions)", " ".join(self.scrollback()))
        self.press("ctrl n")
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertEqual(self.attrs_of("Alice?", ": Alice?"), {"mention"})

    def test_scrolled_up_rings(self) -> None:
        """
        A mention in the conversation shown, scrolled up, rings too.
        """
        for n in range(40):
            self.feed("message", **{"from": "bob"}, text=f"line {n}")
        self.press("page up")
        self.feed("message", **{"from": "bob"}, text="alice!", mention=True)
        self.assertEqual(len(self.rings), 1)

    def test_history_not_counted(self) -> None:
        """
        A history line is no news, flagged or not: no count, no bell.
        """
        self.in_chess()
        self.press("ctrl p")
        self.feed(
            "message",
            **{"from": "bob"},
            room="#chess",
            text="alice",
            history=True,
            mention=True,
        )
        self.assertEqual(self.bar(), "1:ALL  2:#chess")
        self.assertEqual(self.rings, [])

    def test_no_bell(self) -> None:
        """
        C{--no-bell}: counted and highlighted, but silent.
        """
        view = TUIView(
            self.clock,
            tz=UTC,
            bell=False,
            ring=lambda: self.rings.append(None),
        )
        view.session = tui_tests.FakeSession(view, "bob")
        view.show(tui_tests.message("bob", "ping", "private", to="alice"))
        view.show({**tui_tests.message("bob", "alice?"), "mention": True})
        self.assertEqual(self.rings, [])
