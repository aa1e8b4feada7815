"""
Tests for L{chat.dispatcher}: routing and slash commands, with no protocol.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chat.dispatcher import COMMANDS, WELCOME_LIST_LIMIT, Dispatcher
from chat.errors import (
    BadUsage,
    InvalidName,
    NameInUse,
    NoSuchUser,
    NotJoined,
    ReservedName,
    UnknownCommand,
)
from chat.events import (
    Action,
    Goodbye,
    Help,
    Joined,
    Left,
    Message,
    Private,
    Prompt,
    UserList,
    Welcome,
)
from chat.registry import UserRegistry
from tests.fakes import FakeClient


class DispatcherTestCase(SynchronousTestCase):
    """
    A dispatcher over an empty registry and a clock at a known time.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.registry = UserRegistry()
        self.dispatcher = Dispatcher(self.registry, self.clock, announce_limit=5)

    def joined(self, name: str) -> FakeClient:
        client = FakeClient()
        self.dispatcher.dispatch(client, name)
        for other in self.registry:
            assert isinstance(other, FakeClient)
            other.take()
        return client


class JoinTests(DispatcherTestCase):
    """
    The first line is a name request.
    """

    def test_welcome_and_announce(self) -> None:
        """
        The newcomer is welcomed with who is online; the others are told.
        """
        alice = self.joined("alice")
        bob = FakeClient()
        self.dispatcher.dispatch(bob, "Bob")
        [welcome] = bob.take()
        assert isinstance(welcome, Welcome)
        self.assertEqual(
            (welcome.name, welcome.users, welcome.count), ("Bob", ("alice", "Bob"), 2)
        )
        self.assertEqual(welcome.time, 1_700_000_000)
        [joined] = alice.take()
        assert isinstance(joined, Joined)
        self.assertEqual(joined.name, "Bob")

    def test_logged(self) -> None:
        """
        An accepted name is logged in seed 000's words.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.joined("alice")
        self.assertEqual(events[0]["log_format"], "{name} just joined the chat")
        self.assertEqual(events[0]["name"], "alice")

    def test_refused_names(self) -> None:
        """
        Invalid, reserved and taken names are refused with a reason, nobody
        is told, and the client may try again.
        """
        alice = self.joined("alice")
        bob = FakeClient()
        self.assertRaises(ReservedName, self.dispatcher.dispatch, bob, "ALL")
        self.assertRaises(NameInUse, self.dispatcher.dispatch, bob, "ALICE")
        self.assertRaises(InvalidName, self.dispatcher.dispatch, bob, "b o b")
        self.assertEqual(alice.take(), [])
        self.assertIsNone(bob.name)
        self.dispatcher.dispatch(bob, "bob")
        self.assertEqual(bob.name, "bob")

    def test_commands_before_name(self) -> None:
        """
        Only /help, /mode and /quit work before a name is chosen.
        """
        client = FakeClient()
        self.dispatcher.dispatch(client, "/help")
        self.dispatcher.dispatch(client, "/mode json")
        self.assertEqual(client.mode, "json")
        self.assertEqual(
            [(type(e), getattr(e, "what", None)) for e in client.take()],
            [(Help, None), (Prompt, "name")],
        )
        self.assertRaises(NotJoined, self.dispatcher.dispatch, client, "/users")
        self.assertRaises(NotJoined, self.dispatcher.dispatch, client, "/bm hi")
        self.assertIsNone(client.name)

    def test_blank_lines_ignored(self) -> None:
        """
        Blank lines do nothing, before or after joining.
        """
        client = FakeClient()
        self.dispatcher.dispatch(client, "")
        self.dispatcher.dispatch(client, "   ")
        self.assertIsNone(client.name)
        self.assertEqual(client.take(), [])

    def test_announce_limit(self) -> None:
        """
        Above C{announce_limit} users online, joins and leaves are not
        announced, so a login costs O(1) deliveries.
        """
        clients = [self.joined(f"u{i}") for i in range(5)]
        late = FakeClient()
        self.dispatcher.dispatch(late, "late")
        self.assertEqual([c.take() for c in clients], [[]] * 5)
        self.dispatcher.leave(late)
        self.assertEqual([c.take() for c in clients], [[]] * 5)
        self.dispatcher.leave(clients[0])
        self.assertEqual([type(e) for e in clients[1].take()], [Left])

    def test_welcome_lists_at_most(self) -> None:
        """
        The welcome lists names only while few are online.
        """
        for i in range(WELCOME_LIST_LIMIT):
            self.joined(f"u{i}")
        client = FakeClient()
        self.dispatcher.dispatch(client, "last")
        [welcome] = client.take()
        assert isinstance(welcome, Welcome)
        self.assertEqual((welcome.users, welcome.count), ((), WELCOME_LIST_LIMIT + 1))


class RoutingTests(DispatcherTestCase):
    """
    C{*} routing and broadcasts.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.joined("alice")
        self.bob = self.joined("bob")
        self.carol = self.joined("carol")

    def test_private(self) -> None:
        """
        C{Name*text} reaches only that user, with sender and exact text.
        """
        self.dispatcher.dispatch(self.alice, "BOB*Hello, how are you?")
        [event] = self.bob.take()
        assert isinstance(event, Private)
        self.assertEqual(
            (event.sender, event.recipient, event.text),
            ("alice", "bob", "Hello, how are you?"),
        )
        self.assertEqual(self.carol.take(), [])
        self.assertEqual(self.alice.take(), [])

    def test_private_to_absent(self) -> None:
        """
        A message to someone not online is an error naming them; nothing is
        sent.
        """
        with self.assertRaises(NoSuchUser) as raised:
            self.dispatcher.dispatch(self.alice, "dave*hi")
        self.assertIn("dave", str(raised.exception))
        self.assertEqual(self.bob.take() + self.carol.take(), [])

    def test_empty_private(self) -> None:
        """
        C{bob*} with no text is refused with the usage.
        """
        self.assertRaises(BadUsage, self.dispatcher.dispatch, self.alice, "bob*")

    def test_broadcast_forms(self) -> None:
        """
        A plain line, C{ALL*text} and C{/bm text} reach everyone else.
        """
        for line in ["plain", "ALL*star", "/bm  slash ", "2 * 3 = 6"]:
            self.dispatcher.dispatch(self.alice, line)
        for client in (self.bob, self.carol):
            texts = []
            for event in client.take():
                assert isinstance(event, Message)
                self.assertEqual(event.sender, "alice")
                texts.append(event.text)
            self.assertEqual(texts, ["plain", "star", " slash ", "2 * 3 = 6"])
        self.assertEqual(self.alice.take(), [])

    def test_broadcast_shares_event(self) -> None:
        """
        Every recipient gets the same event object, so front ends render
        it once.
        """
        self.dispatcher.dispatch(self.alice, "hi")
        [to_bob] = self.bob.take()
        [to_carol] = self.carol.take()
        self.assertIs(to_bob, to_carol)

    def test_dm(self) -> None:
        """
        C{/dm} and C{/msg} send privately; missing arguments show the usage.
        """
        self.dispatcher.dispatch(self.alice, "/dm bob hi there")
        self.dispatcher.dispatch(self.alice, "/msg bob again")
        self.assertEqual(
            [e.text for e in self.bob.take() if isinstance(e, Private)],
            ["hi there", "again"],
        )
        for line in ["/dm", "/dm bob", "/dm bob   "]:
            with self.assertRaises(BadUsage) as raised:
                self.dispatcher.dispatch(self.alice, line)
            self.assertIn("/dm NAME TEXT", str(raised.exception))
        self.assertRaises(NoSuchUser, self.dispatcher.dispatch, self.alice, "/dm x y")

    def test_me(self) -> None:
        """
        C{/me waves} is an action shown to everyone else.
        """
        self.dispatcher.dispatch(self.alice, "/me waves")
        [event] = self.bob.take()
        assert isinstance(event, Action)
        self.assertEqual((event.sender, event.text), ("alice", "waves"))
        self.assertRaises(BadUsage, self.dispatcher.dispatch, self.alice, "/me")

    def test_users(self) -> None:
        """
        C{/users} and C{/who} list everyone, to the asker only.
        """
        self.dispatcher.dispatch(self.alice, "/users")
        self.dispatcher.dispatch(self.alice, "/WHO")
        events = self.alice.take()
        self.assertEqual(
            [e.users for e in events if isinstance(e, UserList)],
            [("alice", "bob", "carol")] * 2,
        )
        self.assertEqual(self.bob.take(), [])

    def test_help(self) -> None:
        """
        C{/help} lists every command.
        """
        self.dispatcher.dispatch(self.alice, "/help")
        [event] = self.alice.take()
        assert isinstance(event, Help)
        self.assertEqual(event.commands, COMMANDS)
        documented = {c.usage.split()[0] for c in COMMANDS}
        for name in dir(self.dispatcher):
            if name.startswith("command_"):
                handler = getattr(self.dispatcher, name)
                self.assertTrue(
                    f"/{name[8:]}" in documented
                    or any(f"/{name[8:]}" in c.aliases for c in COMMANDS),
                    name,
                )
                self.assertTrue(callable(handler))

    def test_unknown(self) -> None:
        """
        Unknown commands, and attempts to reach non-command methods, are
        refused with a pointer to /help.
        """
        for line in ["/nope", "/_handler_for", "/join_", "/"]:
            with self.assertRaises(UnknownCommand) as raised:
                self.dispatcher.dispatch(self.alice, line)
            self.assertIn("/help", str(raised.exception))

    def test_mode(self) -> None:
        """
        C{/mode} switches the client's format; bad modes are refused.
        """
        self.dispatcher.dispatch(self.alice, "/mode JSON")
        self.assertEqual(self.alice.mode, "json")
        self.assertRaises(BadUsage, self.dispatcher.dispatch, self.alice, "/mode xml")
        self.assertRaises(BadUsage, self.dispatcher.dispatch, self.alice, "/mode")

    def test_quit(self) -> None:
        """
        C{/quit reason} says goodbye, tells the others, frees the name and
        disconnects.
        """
        self.dispatcher.dispatch(self.bob, "/quit gotta go")
        [goodbye] = self.bob.take()
        assert isinstance(goodbye, Goodbye)
        self.assertEqual(goodbye.reason, "gotta go")
        self.assertTrue(self.bob.disconnected)
        [left] = self.alice.take()
        assert isinstance(left, Left)
        self.assertEqual((left.name, left.reason), ("bob", "gotta go"))
        self.assertNotIn(self.bob, self.registry)
        self.dispatcher.leave(self.bob, "connection closed")
        self.assertEqual(self.alice.take(), [])

    def test_exit_alias(self) -> None:
        """
        C{/exit} is C{/quit}.
        """
        self.dispatcher.dispatch(self.carol, "/exit")
        self.assertTrue(self.carol.disconnected)
        [left] = self.alice.take()
        assert isinstance(left, Left)
        self.assertEqual(left.reason, "quit")
