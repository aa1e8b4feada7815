"""
The door contract: the scenarios every door must pass, the same for each.

A door's tests provide a L{Driver}: it connects clients that speak the
door's own syntax (L{DoorClient}) and reads what they are sent back into
L{Seen} values, so that one scenario checks the same behaviour behind
text lines, JSON lines, and (later) WebSocket and IRC.  Mix
L{DoorContract} into a test case whose C{make_driver} builds the driver:
C{tests.lines.test_contract} does it for the line door's text and JSON
modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from twisted.trial.unittest import SynchronousTestCase

from chat.core.limits import Limits
from tests.support import SlowStore

Expected = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Seen:
    """
    One thing a client was told, as the door's driver read it back.

    @ivar kind: the JSON mode's event type (C{message}, C{private},
        C{welcome}, C{error}, C{room-joined}, ...).
    @ivar fields: what the driver could read of it: C{from}, C{text},
        C{room}, C{name}, C{count}, C{history}, C{stored}, ...
    """

    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)


class DoorClient(Protocol):
    """
    One client of a door, doing what a user does, in the door's syntax.
    """

    def name(self, name: str) -> None: ...
    def password(self, password: str) -> None: ...
    def say(self, text: str) -> None: ...
    def whisper(self, to: str, text: str) -> None: ...
    def action(self, text: str) -> None: ...
    def users(self) -> None: ...
    def history(self, count: int | None = None, room: str | None = None) -> None: ...
    def register(self, password: str) -> None: ...
    def join(self, room: str) -> None: ...
    def say_in(self, room: str, text: str) -> None: ...
    def leave(self, room: str, reason: str | None = None) -> None: ...
    def topic(self, room: str, text: str) -> None: ...
    def set_invite_only(self, room: str) -> None: ...
    def invite(self, name: str, room: str) -> None: ...
    def kick(self, name: str, room: str, reason: str | None = None) -> None: ...
    def quit(self, reason: str | None = None) -> None: ...

    def received(self) -> list[Seen]:
        """
        What it was told since the last call, once the turn is over.
        """

    @property
    def closed(self) -> bool:
        """
        Whether the server closed its connection.
        """


class Driver(Protocol):
    """
    A door, and the server core behind it.

    @ivar store: the core's store; make its history and stored messages
        wait with C{store.holding = True} and C{store.answer()}.
    """

    store: SlowStore

    def connect(self, peer: str = "192.0.2.1", *, exempt: bool = False) -> DoorClient:
        """
        A new client connection, greeted.

        @param exempt: it comes from a network exempt from flood control
            (C{--exempt}), for scenarios that flood on purpose.
        """

    def advance(self, seconds: float) -> None:
        """
        Let C{seconds} pass on the server's clock.
        """


# The scenarios are a mixin (trial would run a TestCase imported into a
# door's test module as a test of its own); typed as one.
if TYPE_CHECKING:
    _Base = SynchronousTestCase
else:
    _Base = object


class DoorContract(_Base):
    """
    The behaviour users rely on, whatever door they come through; mix it
    into a L{SynchronousTestCase} with a C{make_driver}.
    """

    def make_driver(self) -> Driver:
        raise NotImplementedError(f"{type(self).__name__} must make its driver")

    def setUp(self) -> None:
        self.driver = self.make_driver()

    # Helpers.

    def connect(self, peer: str = "192.0.2.1", *, exempt: bool = False) -> DoorClient:
        client = self.driver.connect(peer, exempt=exempt)
        client.received()
        return client

    def login(self, name: str, *, exempt: bool = False) -> DoorClient:
        """
        A client online as the guest C{name}, with what it was told read.
        """
        client = self.connect(exempt=exempt)
        client.name(name)
        [welcome] = self.kinds(client.received(), "welcome")
        self.assertEqual(welcome.fields["name"], name)
        return client

    def registered(self, name: str, password: str = "sesame1") -> None:
        """
        Register C{name} and leave: it is registered and offline.
        """
        client = self.login(name)
        client.register(password)
        client.quit()
        client.received()

    @staticmethod
    def kinds(seen: Sequence[Seen], *kinds: str) -> list[Seen]:
        """
        What of C{seen} is of one of C{kinds}.
        """
        return [s for s in seen if s.kind in kinds]

    def assertSeen(self, seen: Sequence[Seen], expected: Sequence[Expected]) -> None:
        """
        C{seen} is C{expected}, in order: each of the same kind with at
        least the fields given.
        """
        got = [
            (s.kind, {k: s.fields.get(k) for k in want})
            for s, (_, want) in zip(seen, expected, strict=False)
        ]
        self.assertEqual(
            ([s.kind for s in seen], got),
            ([kind for kind, _ in expected], [(k, dict(w)) for k, w in expected]),
            seen,
        )

    # Names.

    def test_welcome_and_join_notice(self) -> None:
        """
        A name is welcomed with who is online, and the others are told.
        """
        alice = self.login("alice")
        bob = self.connect()
        bob.name("bob")
        self.assertSeen(bob.received(), [("welcome", {"name": "bob"})])
        self.assertSeen(alice.received(), [("join", {"name": "bob"})])

    def test_names_case_insensitive(self) -> None:
        """
        A name is taken in any case, and shown as first typed.
        """
        alice = self.login("Alice")
        other = self.connect()
        other.name("ALICE")
        [error] = self.kinds(other.received(), "error")
        self.assertIn("taken", error.fields["text"])
        other.name("bob")
        self.assertSeen(alice.received(), [("join", {"name": "bob"})])
        other.received()
        other.say("hi")
        self.assertSeen(alice.received(), [("message", {"from": "bob", "text": "hi"})])
        alice.say("hello")
        self.assertSeen(other.received(), [("message", {"from": "Alice"})])

    def test_refused_names(self) -> None:
        """
        Invalid and reserved names are refused with a reason; nobody is
        told, and the same connection may try again.
        """
        watcher = self.login("watcher")
        client = self.connect()
        for bad in ("a*b", "#room", "x" * 33, "ALL"):
            client.name(bad)
            self.assertSeen(client.received(), [("error", {})])
        client.name("fine")
        self.assertSeen(client.received(), [("welcome", {"name": "fine"})])
        self.assertSeen(watcher.received(), [("join", {"name": "fine"})])

    def test_requests_need_a_name(self) -> None:
        """
        Before a name, requests that need one are refused.
        """
        client = self.connect()
        client.users()
        client.join("#room")
        self.assertEqual([s.kind for s in client.received()], ["error", "error"])

    # Messages.

    def test_broadcast_not_echoed(self) -> None:
        """
        A message to everyone reaches everyone else, exactly as typed, and
        not its sender.
        """
        alice, bob, carol = self.login("alice"), self.login("bob"), self.login("carol")
        alice.received()
        bob.received()
        alice.say("  hi  all *x* ")
        for other in (bob, carol):
            self.assertSeen(
                other.received(),
                [("message", {"from": "alice", "text": "  hi  all *x* "})],
            )
        self.assertEqual(alice.received(), [])

    def test_private(self) -> None:
        """
        A private message reaches its recipient only.
        """
        alice, bob, carol = self.login("alice"), self.login("bob"), self.login("carol")
        alice.received()
        bob.received()
        alice.whisper("bob", "psst")
        self.assertSeen(
            bob.received(), [("private", {"from": "alice", "text": "psst"})]
        )
        self.assertEqual(carol.received(), [])
        # A program (JSON before its name) is told it was delivered.
        self.assertIn(alice.received(), ([], [Seen("delivered", {"to": "bob"})]))

    def test_private_to_nobody(self) -> None:
        """
        A private message to a name nobody holds is refused.
        """
        alice = self.login("alice")
        alice.whisper("carol", "hi")
        [error] = alice.received()
        self.assertEqual(error.kind, "error")
        self.assertIn("carol", error.fields["text"])

    def test_action(self) -> None:
        """
        An action reaches everyone else.
        """
        alice, bob = self.login("alice"), self.login("bob")
        alice.received()
        alice.action("waves")
        self.assertSeen(
            bob.received(), [("action", {"from": "alice", "text": "waves"})]
        )

    def test_users(self) -> None:
        """
        Who is online, to the asker only.
        """
        alice, bob = self.login("alice"), self.login("bob")
        alice.received()
        bob.users()
        self.assertSeen(bob.received(), [("users", {"users": ["alice", "bob"]})])
        self.assertEqual(alice.received(), [])

    def test_quit(self) -> None:
        """
        Quitting says goodbye, closes the connection, tells the others with
        the reason, and frees the name.
        """
        alice, bob = self.login("alice"), self.login("bob")
        alice.received()
        bob.quit("bedtime")
        self.assertSeen(bob.received(), [("goodbye", {})])
        self.assertTrue(bob.closed)
        self.assertSeen(
            alice.received(), [("leave", {"name": "bob", "reason": "bedtime"})]
        )
        self.login("bob")

    def test_history(self) -> None:
        """
        A newcomer is shown the last broadcasts, marked as history, and may
        ask for more.
        """
        alice = self.login("alice")
        for i in range(12):
            alice.say(f"m{i}")
        bob = self.connect()
        bob.name("bob")
        shown = bob.received()
        self.assertSeen(shown[:2], [("welcome", {"name": "bob"}), ("message", {})])
        self.assertEqual(
            # (A JSON door adds the history id: tested with each door.)
            [{k: v for k, v in s.fields.items() if k != "id"} for s in shown[1:-1]],
            [{"from": "alice", "text": f"m{i}", "history": True} for i in range(2, 12)],
        )
        self.assertSeen(shown[-1:], [("history-end", {"count": 10})])
        bob.history(2)
        self.assertSeen(
            bob.received(),
            [
                ("message", {"text": "m10", "history": True}),
                ("message", {"text": "m11", "history": True}),
                ("history-end", {"count": 2}),
            ],
        )

    # Accounts and offline messages.

    def test_register_and_log_in(self) -> None:
        """
        A registered name asks for its password; the right one logs in.
        """
        self.registered("bob")
        bob = self.connect()
        bob.name("bob")
        self.assertSeen(bob.received(), [("prompt", {"prompt": "password"})])
        bob.password("sesame1")
        self.assertSeen(
            self.kinds(bob.received(), "welcome"), [("welcome", {"name": "bob"})]
        )

    def test_wrong_password(self) -> None:
        """
        A wrong password is refused, and the next thing sent is a name.
        """
        self.registered("bob")
        client = self.connect()
        client.name("bob")
        client.received()
        client.password("guess")
        self.assertSeen(
            client.received(), [("error", {}), ("prompt", {"prompt": "name"})]
        )
        client.name("carol")
        self.assertSeen(client.received(), [("welcome", {"name": "carol"})])

    def test_throttled(self) -> None:
        """
        After too many wrong passwords for a name, it is refused for a while
        even with the right one: the password is still asked for, and
        refused unchecked once given.
        """
        self.registered("bob")
        client = self.connect()
        for _ in range(5):
            client.name("bob")
            client.password("guess")
        client.received()
        client.name("bob")
        self.assertSeen(client.received(), [("prompt", {"prompt": "password"})])
        client.password("sesame1")
        error, prompt = client.received()
        self.assertIn("too many", error.fields["text"])
        self.assertSeen([prompt], [("prompt", {"prompt": "name"})])
        self.driver.advance(61)
        # That one gave no name within the deadline: it was closed.
        client = self.connect()
        client.name("bob")
        client.password("sesame1")
        self.assertSeen(self.kinds(client.received(), "welcome"), [("welcome", {})])

    def test_offline_messages(self) -> None:
        """
        Private messages to a registered user who is offline are kept and
        handed over at login, in order, before anything live.
        """
        self.registered("bob")
        alice = self.login("alice")
        alice.whisper("bob", "one")
        alice.whisper("bob", "two")
        self.assertSeen(alice.received(), [("queued", {"to": "bob"})] * 2)
        alice.whisper("nobody", "lost")
        self.assertSeen(alice.received(), [("error", {})])
        bob = self.connect()
        bob.name("bob")
        bob.received()
        bob.password("sesame1")
        self.assertSeen(
            self.kinds(bob.received(), "private", "stored-end"),
            [
                ("private", {"from": "alice", "text": "one", "stored": True}),
                ("private", {"from": "alice", "text": "two", "stored": True}),
                ("stored-end", {"count": 2}),
            ],
        )

    # Rooms.

    def test_room(self) -> None:
        """
        A room is created by its first member; its messages reach its
        members only; members are told of joins and leaves.
        """
        alice, bob, carol = self.login("alice"), self.login("bob"), self.login("carol")
        for client in (alice, bob):
            client.received()
        alice.join("#chess")
        self.assertSeen(
            alice.received(), [("room-joined", {"room": "#chess", "created": True})]
        )
        bob.join("#CHESS")
        self.assertSeen(bob.received(), [("room-joined", {"room": "#chess"})])
        self.assertSeen(
            alice.received(), [("room-join", {"room": "#chess", "name": "bob"})]
        )
        bob.say_in("#chess", "e4?")
        self.assertSeen(
            alice.received(),
            [("message", {"room": "#chess", "from": "bob", "text": "e4?"})],
        )
        self.assertEqual(carol.received(), [])
        carol.say_in("#chess", "let me in")
        self.assertSeen(carol.received(), [("error", {})])
        bob.leave("#chess", "bedtime")
        self.assertSeen(
            alice.received(),
            [("room-leave", {"room": "#chess", "name": "bob", "reason": "bedtime"})],
        )

    def test_room_moderation(self) -> None:
        """
        The owner sets the topic, makes the room invite-only, invites and
        kicks; the others may not.
        """
        alice, bob, carol = self.login("alice"), self.login("bob"), self.login("carol")
        alice.join("#club")
        bob.join("#club")
        for client in (alice, bob, carol):
            client.received()
        bob.topic("#club", "mine")
        self.assertSeen(bob.received(), [("error", {})])
        alice.topic("#club", "Tuesdays")
        self.assertSeen(
            bob.received(),
            [("room-topic", {"room": "#club", "topic": "Tuesdays", "by": "alice"})],
        )
        alice.set_invite_only("#club")
        alice.received()
        carol.join("#club")
        self.assertSeen(carol.received(), [("error", {})])
        alice.invite("carol", "#club")
        self.assertSeen(
            carol.received(), [("room-invite", {"room": "#club", "by": "alice"})]
        )
        carol.join("#club")
        self.assertSeen(
            self.kinds(carol.received(), "room-joined"),
            [("room-joined", {"room": "#club"})],
        )
        alice.received()
        bob.received()
        alice.kick("bob", "#club", "noise")
        self.assertSeen(
            bob.received(),
            [
                (
                    "room-leave",
                    {"room": "#club", "name": "bob", "by": "alice", "reason": "noise"},
                )
            ],
        )
        bob.say_in("#club", "hey")
        self.assertSeen(bob.received(), [("error", {})])

    def test_registered_member_back_in_room(self) -> None:
        """
        A registered member is put back in its rooms at login and shown
        what was said there while it was away.
        """
        bob = self.login("bob")
        bob.register("sesame1")
        bob.join("#chess")
        alice = self.login("alice")
        alice.join("#chess")
        bob.quit()
        alice.received()
        self.driver.advance(1)
        alice.say_in("#chess", "while you were out")
        bob = self.connect()
        bob.name("bob")
        bob.received()
        bob.password("sesame1")
        self.assertSeen(
            self.kinds(bob.received(), "room-joined", "message", "history-end"),
            [
                ("room-joined", {"room": "#chess", "rejoined": True}),
                (
                    "message",
                    {"room": "#chess", "text": "while you were out", "history": True},
                ),
                ("history-end", {"room": "#chess", "missed": True}),
            ],
        )

    # Order.

    def test_broadcast_then_private(self) -> None:
        """
        A private message sent after a broadcast in the same turn arrives
        after it.
        """
        alice, bob = self.login("alice"), self.login("bob")
        alice.received()
        alice.say("to all")
        alice.whisper("bob", "to you")
        self.assertSeen(
            bob.received(),
            [("message", {"text": "to all"}), ("private", {"text": "to you"})],
        )

    def test_catch_up_before_live(self) -> None:
        """
        What a login is caught up with comes before anything said while the
        store was being read, and the client's own requests sent meanwhile
        are carried out after it, in order.
        """
        self.registered("bob")
        alice = self.login("alice")
        alice.whisper("bob", "kept")
        alice.received()
        self.driver.store.holding = True
        bob = self.connect()
        bob.name("bob")
        bob.received()
        bob.password("sesame1")
        bob.say("first")
        bob.say("second")
        alice.say("meanwhile")
        self.assertEqual(self.kinds(alice.received(), "message"), [])
        while self.driver.store.waiting:
            self.driver.store.answer()
        got = bob.received()
        self.assertSeen(
            self.kinds(got, "welcome", "private", "stored-end", "message"),
            [
                ("welcome", {"name": "bob"}),
                ("private", {"text": "kept", "stored": True}),
                ("stored-end", {"count": 1}),
                ("message", {"from": "alice", "text": "meanwhile"}),
            ],
        )
        self.assertSeen(
            self.kinds(alice.received(), "message"),
            [("message", {"text": "first"}), ("message", {"text": "second"})],
        )

    def test_burst_in_order(self) -> None:
        """
        A burst of many messages reaches the others whole and in order
        (from an exempt client: flood control would hold it to a rate).
        """
        alice, bob = self.login("alice", exempt=True), self.login("bob")
        alice.received()
        for i in range(250):
            alice.say(f"m{i}")
        self.assertEqual(
            [s.fields["text"] for s in bob.received()], [f"m{i}" for i in range(250)]
        )

    # Flood control.

    def test_flooder_held_to_its_rate(self) -> None:
        """
        A guest that sends more than its burst at once has the rest held
        back, a few a second; another user's private message overtakes
        what is held, and nothing is lost.
        """
        limits = Limits()
        burst, rate = limits.guest_flood_burst, limits.guest_flood_rate
        flooder, bob, carol = (
            self.login("flooder"),
            self.login("bob"),
            self.login("carol"),
        )
        for client in (flooder, bob, carol):
            client.received()
        for i in range(2 * burst):
            flooder.say(f"m{i}")
        first = [s.fields["text"] for s in self.kinds(bob.received(), "message")]
        # Its login took a token or two of its burst.
        self.assertGreater(len(first), burst - 5)
        self.assertLessEqual(len(first), burst)
        carol.whisper("bob", "still there?")
        self.assertSeen(bob.received(), [("private", {"text": "still there?"})])
        self.driver.advance(1.0)
        more = [s.fields["text"] for s in self.kinds(bob.received(), "message")]
        self.assertEqual(len(more), int(rate))
        for _ in range(int(2 * burst / rate) + 1):
            self.driver.advance(1.0)
            more += [s.fields["text"] for s in self.kinds(bob.received(), "message")]
        self.assertEqual(first + more, [f"m{i}" for i in range(2 * burst)])
        self.assertFalse(flooder.closed)

    def test_excess_flood(self) -> None:
        """
        A client that keeps sending faster than its rate for longer than
        L{Limits.flood_backlog} is told why and dropped; the others are
        told it left for excess flood, and go on talking.
        """
        limits = Limits()
        flooder, bob, carol = (
            self.login("flooder"),
            self.login("bob"),
            self.login("carol"),
        )
        for client in (flooder, bob, carol):
            client.received()
        needed = limits.guest_flood_burst + int(
            (limits.flood_backlog + 2) * limits.guest_flood_rate
        )
        for i in range(needed):
            flooder.say(f"m{i}")
        for _ in range(int(limits.flood_backlog) + 2):
            self.driver.advance(1.0)
        [error] = self.kinds(flooder.received(), "error")
        self.assertIn("(excess flood); disconnecting", error.fields["text"])
        self.assertTrue(flooder.closed)
        [left] = self.kinds(bob.received(), "leave")
        self.assertEqual(left.fields, {"name": "flooder", "reason": "excess flood"})
        carol.whisper("bob", "quiet now")
        self.assertSeen(bob.received(), [("private", {"text": "quiet now"})])

    def test_exempt_not_held(self) -> None:
        """
        A client from an exempt network is not held back, however fast.
        """
        limits = Limits()
        fast, bob = self.login("fast", exempt=True), self.login("bob")
        fast.received()
        count = 2 * limits.guest_flood_burst
        for i in range(count):
            fast.say(f"m{i}")
        self.assertEqual(len(self.kinds(bob.received(), "message")), count)
