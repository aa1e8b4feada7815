"""
Tests for L{chat.core.messages}: messages to everyone and to one person,
offline messages, when they count as delivered, the catch-up at login and
history, through the session API.
"""

from __future__ import annotations

from typing import cast

from twisted.internet.defer import Deferred, fail

from chat.core.core import ChatCore
from chat.core.passwords import PasswordHasher
from chat.events import (
    Action,
    Away,
    AwayStatus,
    Delivered,
    Error,
    Message,
    Past,
    PastEnd,
    PrivacyStatus,
    Private,
    PrivatePast,
    PrivatePastEnd,
    Queued,
    Stored,
    StoredEnd,
    Welcome,
)
from chat.store.interface import HistoryEntry
from tests.support import START, CoreTestCase, Person, SlowStore


class RoutingTests(CoreTestCase):
    """
    Private messages and broadcasts between three guests.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.carol = self.guest("carol")
        self.alice.take()
        self.bob.take()

    def test_private(self) -> None:
        """
        A private message reaches only its recipient, named in any case,
        with sender and exact text.
        """
        self.alice.session.whisper("BOB", "Hello, how are you?")
        [event] = self.bob.take()
        assert isinstance(event, Private)
        self.assertEqual(
            (event.sender, event.recipient, event.text),
            ("alice", "bob", "Hello, how are you?"),
        )
        self.assertEqual(self.carol.take(), [])
        self.assertEqual(self.alice.take(), [])

    def test_delivered_to_a_program(self) -> None:
        """
        A sender that acknowledges (a program keeping track of what it
        sent) is told each private message reached its recipient, after it
        did; a person is not (L{test_private}), nor of a refused one.
        """
        dave = self.guest("dave", acknowledges=True)
        self.bob.take()
        dave.session.whisper("bob", "one")
        dave.session.whisper("erin", "two")
        [event] = self.bob.take()
        assert isinstance(event, Private)
        delivered, refused = dave.take()
        assert isinstance(delivered, Delivered)
        self.assertEqual(delivered.recipient, "bob")
        self.assertIsInstance(refused, Error)

    def test_privates_in_order(self) -> None:
        """
        Private messages arrive in the order they were sent, spaces kept.
        """
        self.alice.session.whisper("bob", "hi there")
        self.alice.session.whisper("bob", " again ")
        self.assertEqual(
            [e.text for e in self.of_type(self.bob.take(), Private)],
            ["hi there", " again "],
        )

    def test_private_to_absent(self) -> None:
        """
        A message to someone neither online nor registered is an error
        naming them; nothing is sent or stored.
        """
        self.alice.session.whisper("dave", "hi")
        [error] = self.alice.take()
        assert isinstance(error, Error)
        self.assertEqual(error.code, "no-such-user")
        self.assertIn("dave", error.text)
        self.assertEqual(self.bob.take() + self.carol.take(), [])
        self.assertEqual(
            self.successResultOf(self.store.pending("dave", START, 1e9)), []
        )

    def test_empty_private(self) -> None:
        """
        A private message with no text is refused.
        """
        self.alice.session.whisper("bob", "")
        self.assertEqual(self.errors(self.alice.take()), ["usage"])
        self.assertEqual(self.bob.take(), [])

    def test_say(self) -> None:
        """
        A message to everyone reaches everyone else, text exactly as given,
        in order; not its sender.
        """
        for text in ["plain", "star", " slash ", "2 * 3 = 6"]:
            self.alice.session.say(text)
        for person in (self.bob, self.carol):
            events = person.take()
            self.assertEqual(
                [e.text for e in self.of_type(events, Message)],
                ["plain", "star", " slash ", "2 * 3 = 6"],
            )
            self.assertEqual(
                {e.sender for e in self.of_type(events, Message)}, {"alice"}
            )
            self.assertEqual(len(events), 4)
        self.assertEqual(self.alice.take(), [])

    def test_broadcast_shares_event(self) -> None:
        """
        Every recipient gets the same event object, so doors render it
        once.
        """
        self.alice.session.say("hi")
        [to_bob] = self.bob.take()
        [to_carol] = self.carol.take()
        self.assertIs(to_bob, to_carol)

    def test_action(self) -> None:
        """
        An action is shown to everyone else; an empty one is refused.
        """
        self.alice.session.action("waves")
        [event] = self.bob.take()
        assert isinstance(event, Action)
        self.assertEqual((event.sender, event.text), ("alice", "waves"))
        self.alice.session.action("  ")
        self.assertEqual(self.errors(self.alice.take()), ["usage"])
        self.assertEqual(self.carol.take(), [event])

    def test_private_after_broadcast(self) -> None:
        """
        A private message sent after a broadcast arrives after it.
        """
        self.alice.session.say("to all")
        self.alice.session.whisper("bob", "to you")
        self.assertEqual([type(e) for e in self.bob.take()], [Message, Private])


class OfflineTests(CoreTestCase):
    """
    Private messages to a registered user who is offline are kept, and
    handed over at its next login.
    """

    def setUp(self) -> None:
        super().setUp()
        self.registered("bob")
        self.alice = self.guest("alice")

    def pending(self) -> list[str]:
        """
        The texts the store keeps for bob.
        """
        kept = self.successResultOf(
            self.store.pending("bob", self.clock.seconds(), 1e9)
        )
        return [m.text for m in kept]

    def test_stored_and_delivered_in_order(self) -> None:
        """
        Private messages to an offline registered user are stored (the
        sender is told) and handed over in order with their original time,
        then a count.
        """
        self.alice.session.whisper("Bob", "first")
        self.clock.advance(5)
        self.alice.session.whisper("bob", "second")
        queued = self.alice.take()
        self.assertEqual([type(e) for e in queued], [Queued, Queued])
        self.assertEqual(
            [(e.recipient, e.id) for e in self.of_type(queued, Queued)],
            [("bob", 1), ("bob", 2)],
        )
        self.clock.advance(5)
        _, events = self.log_in("bob")
        stored = self.of_type(events, Stored)
        self.assertEqual([e.text for e in stored], ["first", "second"])
        self.assertEqual([e.time for e in stored], [START, START + 5])
        self.assertEqual([e.sender for e in stored], ["alice", "alice"])
        self.assertEqual([e.recipient for e in stored], ["bob", "bob"])
        end = events[-1]
        assert isinstance(end, StoredEnd)
        self.assertEqual(end.count, 2)

    def test_not_registered_offline_is_error(self) -> None:
        """
        A name neither online nor registered is still an error.
        """
        self.alice.session.whisper("nobody", "hi")
        self.assertEqual(self.errors(self.alice.take()), ["no-such-user"])

    def test_limit(self) -> None:
        """
        Over the per-recipient limit the sender is told; nothing is dropped.
        """
        for i in range(4):
            self.alice.session.whisper("bob", f"m{i}")
        events = self.alice.take()
        self.assertEqual(self.errors(events), ["queue-full"])
        self.assertEqual([type(e) for e in events], [Queued, Queued, Queued, Error])
        _, events = self.log_in("bob")
        self.assertEqual(
            [e.text for e in self.of_type(events, Stored)], ["m0", "m1", "m2"]
        )

    def test_age_limit(self) -> None:
        """
        A stored message older than the age limit is not handed over, and
        no longer counts against the recipient's queue.
        """
        for i in range(3):
            self.alice.session.whisper("bob", f"old{i}")
        self.clock.advance(self.limits.offline_age / 2)
        self.alice.session.whisper("bob", "too many")
        self.assertEqual(self.errors(self.alice.take()), ["queue-full"])
        self.clock.advance(self.limits.offline_age / 2 + 1)
        self.alice.session.whisper("bob", "new")
        self.assertEqual([type(e) for e in self.alice.take()], [Queued])
        _, events = self.log_in("bob")
        self.assertEqual([e.text for e in self.of_type(events, Stored)], ["new"])
        end = events[-1]
        assert isinstance(end, StoredEnd)
        self.assertEqual(end.count, 1)

    def test_confirmed_later(self) -> None:
        """
        For a client that does not acknowledge, stored messages leave the
        store once its connection has stayed open a while.
        """
        self.alice.session.whisper("bob", "hi")
        self.log_in("bob")
        self.clock.advance(self.limits.confirm_after - 1)
        self.assertEqual(self.pending(), ["hi"])
        self.clock.advance(1)
        self.assertEqual(self.pending(), [])

    def test_confirmed_by_request(self) -> None:
        """
        A client that sends a request after its stored messages has them:
        they leave the store at once.
        """
        self.alice.session.whisper("bob", "hi")
        bob, _ = self.log_in("bob")
        bob.session.users()
        self.assertEqual(self.pending(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_clean_close_confirms(self) -> None:
        """
        A connection that closes cleanly delivered its stored messages.
        """
        self.alice.session.whisper("bob", "hi")
        bob, _ = self.log_in("bob")
        bob.session.closed(delivered=True)
        self.assertEqual(self.pending(), [])

    def test_unclean_close_keeps(self) -> None:
        """
        A connection lost uncleanly before the messages count as delivered
        leaves them stored for the next login.
        """
        self.alice.session.whisper("bob", "hi")
        bob, _ = self.log_in("bob")
        bob.session.closed("connection lost", delivered=False)
        self.clock.advance(self.limits.confirm_after)
        self.assertEqual(self.pending(), ["hi"])
        _, events = self.log_in("bob")
        self.assertEqual([e.text for e in self.of_type(events, Stored)], ["hi"])

    def test_quit_confirms(self) -> None:
        """
        Quitting is a request: the stored messages were delivered.
        """
        self.alice.session.whisper("bob", "hi")
        bob, _ = self.log_in("bob")
        bob.session.quit()
        self.assertEqual(self.pending(), [])

    def acknowledging(self, bob: Person) -> list[Stored]:
        """
        Log C{bob} in: the stored messages it was handed.
        """
        bob.session.choose_name("bob")
        bob.take()
        bob.session.log_in("sesame1")
        self.alice.take()
        return self.of_type(bob.take(), Stored)

    def test_acknowledges_needs_ack(self) -> None:
        """
        The stored messages of a client that acknowledges stay until it
        acknowledges them by id, however long it stays, whatever it asks
        and however it leaves.
        """
        self.alice.session.whisper("bob", "hi")
        bob = self.connect(acknowledges=True)
        self.acknowledging(bob)
        self.clock.advance(self.limits.confirm_after * 2)
        bob.session.users()
        bob.session.closed(delivered=True)
        self.assertEqual(self.pending(), ["hi"])
        bob = self.connect(acknowledges=True)
        [stored] = self.acknowledging(bob)
        bob.session.acknowledge([stored.id])
        self.assertEqual(bob.take(), [])
        self.assertEqual(self.pending(), [])

    def test_set_acknowledges(self) -> None:
        """
        A door may say the client acknowledges after it connected, before
        it is in (as C{/mode json} did).
        """
        self.alice.session.whisper("bob", "hi")
        bob = self.connect()
        bob.session.set_acknowledges(True)
        self.acknowledging(bob)
        self.clock.advance(self.limits.confirm_after * 2)
        self.assertEqual(self.pending(), ["hi"])

    def test_acknowledge_refusals(self) -> None:
        """
        Acknowledging needs ids of 1 or more, and no larger than a store
        keeps; another user's ids delete nothing.
        """
        self.alice.session.whisper("bob", "hi")
        bob = self.connect(acknowledges=True)
        [stored] = self.acknowledging(bob)
        bob.session.acknowledge([])
        bob.session.acknowledge([0, stored.id])
        bob.session.acknowledge([stored.id, 2**63])
        self.assertEqual(self.errors(bob.take()), ["usage", "usage", "usage"])
        self.alice.session.acknowledge([stored.id])
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.pending(), ["hi"])


class CatchUpOrderTests(CoreTestCase):
    """
    What a registered user missed comes before live traffic, even when the
    store takes its time.
    """

    def setUp(self) -> None:
        self.slow = SlowStore()
        self.store = self.slow
        super().setUp()
        self.slow.holding = False
        self.registered("bob")
        self.alice = self.guest("alice")
        self.alice.session.whisper("bob", "kept")
        self.alice.take()
        self.slow.holding = True

    def logging_in(self) -> Person:
        """
        bob, whose password was accepted and whose catch-up waits for the
        store.
        """
        bob = self.connect()
        bob.session.choose_name("bob")
        bob.take()
        bob.session.log_in("sesame1")
        return bob

    def test_live_after_stored(self) -> None:
        """
        Live traffic that arrives while history and stored messages are
        being read comes after them.
        """
        bob = self.logging_in()
        self.alice.session.say("live")
        self.alice.session.whisper("bob", "live private")
        self.assertEqual(bob.take(), [])
        self.slow.answer()  # the history
        self.assertEqual(bob.take(), [])
        self.slow.answer()  # the stored messages
        kinds = [type(e).__name__ for e in bob.take()]
        self.assertEqual(kinds[0], "Welcome")
        self.assertLess(kinds.index("StoredEnd"), kinds.index("Message"))
        self.assertLess(kinds.index("Stored"), kinds.index("Private"))

    def test_store_failure(self) -> None:
        """
        If stored messages cannot be read, the user is still let in, told
        so, and live traffic held meanwhile arrives; the messages stay
        stored for the next login.
        """
        bob = self.logging_in()
        self.alice.session.say("live")
        self.slow.answer()
        self.slow.fail_next(OSError("disk gone"))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = bob.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
        live = events[-1]
        assert isinstance(live, Message)
        self.assertEqual(live.text, "live")
        self.assertEqual(bob.session.name, "bob")
        bob.session.closed(delivered=True)
        bob = self.logging_in()
        self.slow.answer()
        self.slow.answer()
        self.assertEqual([e.text for e in self.of_type(bob.take(), Stored)], ["kept"])

    def test_closed_during_catch_up(self) -> None:
        """
        A user whose connection drops while it is caught up is handed
        nothing, and its stored messages stay for the next login.
        """
        bob = self.logging_in()
        bob.session.closed("connection lost", delivered=True)
        self.slow.answer()
        self.slow.answer()
        self.assertEqual(bob.take(), [])
        self.slow.holding = False
        _, events = self.log_in("bob")
        self.assertEqual([e.text for e in self.of_type(events, Stored)], ["kept"])


class HistoryTests(CoreTestCase):
    """
    The main channel's history, shown on joining and asked for.
    """

    def test_shown_on_join_and_asked(self) -> None:
        """
        A new user sees the last few broadcasts marked as history;
        C{history(N)} shows the last N and an end line.
        """
        alice = self.guest("alice")
        for text in ("one", "two", "three"):
            self.clock.advance(1)
            alice.session.say(text)
        alice.session.action("waves")
        carol = self.connect()
        carol.session.choose_name("carol")
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        past = self.of_type(events, Past)
        self.assertEqual(
            [(e.sender, e.text, e.action) for e in past],
            [("alice", "three", False), ("alice", "waves", True)],
        )
        self.assertEqual([e.time for e in past], [START + 3, START + 3])
        end = events[-1]
        assert isinstance(end, PastEnd)
        self.assertEqual(end.count, 2)
        carol.session.history(3)
        events = carol.take()
        self.assertEqual(
            [e.text for e in self.of_type(events, Past)], ["two", "three", "waves"]
        )
        end = events[-1]
        assert isinstance(end, PastEnd)
        self.assertEqual(end.count, 3)

    def test_default_and_bounds(self) -> None:
        """
        Without a count, C{history} shows L{Limits.history_default}
        messages; counts outside 1 to L{Limits.history_max} are refused.
        """
        alice = self.guest("alice")
        for i in range(self.limits.history_default + 1):
            alice.session.say(f"m{i}")
        alice.session.history()
        self.assertEqual(
            len(self.of_type(alice.take(), Past)), self.limits.history_default
        )
        for bad in (0, -1, self.limits.history_max + 1):
            alice.session.history(bad)
        self.assertEqual(self.errors(alice.take()), ["usage"] * 3)
        alice.session.history(self.limits.history_max)
        self.assertEqual(
            len(self.of_type(alice.take(), Past)), self.limits.history_default + 1
        )


class NoHistoryTests(CoreTestCase):
    """
    A core that keeps no history.
    """

    keep_history = False

    def test_no_history(self) -> None:
        """
        With history off nothing is kept and nothing replayed.
        """
        alice = self.guest("alice")
        alice.session.say("one")
        carol = self.connect()
        carol.session.choose_name("carol")
        self.assertEqual([type(e) for e in carol.take()], [Welcome])
        carol.session.say("two")
        carol.session.history()
        end = carol.take()[-1]
        assert isinstance(end, PastEnd)
        self.assertEqual(end.count, 0)
        self.assertEqual(self.successResultOf(self.store.history("", 10)), [])
        self.assertIsInstance(alice.take()[-1], Message)


class GuestCatchUpTests(CoreTestCase):
    """
    A guest is handed history at once when the store has it at hand, and
    held until it comes when the store has to look for it.
    """

    def setUp(self) -> None:
        self.slow = SlowStore()
        self.store = self.slow
        super().setUp()

    def test_history_at_hand(self) -> None:
        """
        When the store answers at once, the guest is welcomed with its
        history in the same turn, without pausing.
        """
        self.slow.holding = False
        alice = self.guest("alice")
        alice.session.say("one")
        carol = self.connect()
        carol.session.choose_name("carol")
        self.assertEqual([type(e) for e in carol.events], [Welcome, Past, PastEnd])
        self.assertFalse(carol.paused)

    def test_history_answered_later(self) -> None:
        """
        When the store takes its time, the guest gets nothing until it
        answers; then its welcome, its history, and the live traffic that
        came meanwhile, in that order.
        """
        alice = self.connect()
        alice.session.choose_name("alice")
        self.assertEqual(alice.take(), [])
        self.slow.answer()
        self.assertEqual([type(e) for e in alice.take()], [Welcome])
        alice.session.say("one")
        carol = self.connect()
        carol.session.choose_name("carol")
        alice.session.say("live")
        self.assertEqual(carol.take(), [])
        self.slow.answer()
        events = carol.take()
        self.assertEqual([type(e) for e in events], [Welcome, Past, PastEnd, Message])
        self.assertEqual(
            [cast(Past, events[1]).text, cast(Message, events[3]).text],
            ["one", "live"],
        )

    def test_history_failure(self) -> None:
        """
        A guest whose history cannot be read is let in and told so.
        """
        carol = self.connect()
        carol.session.choose_name("carol")
        self.slow.fail_next(OSError("disk gone"))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
        self.assertEqual(carol.session.name, "carol")

    def test_history_failed_at_once(self) -> None:
        """
        A store whose history lookup has already failed lets the guest in
        with the same error as one that fails later.
        """

        def failed(room: str, limit: int) -> Deferred[list[HistoryEntry]]:
            return fail(OSError("disk gone"))

        self.slow.history = failed  # type: ignore[method-assign]
        carol = self.connect()
        carol.session.choose_name("carol")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
        self.assertEqual(carol.session.name, "carol")


class PrivateHistoryTests(CoreTestCase):
    """
    The private history of registered users' conversations (issue 16):
    C{/history NAME}, C{/privacy}.
    """

    def setUp(self) -> None:
        super().setUp()
        for name in ("alice", "bob", "carol"):
            self.registered(name)
        self.alice, _ = self.log_in("alice")
        self.bob, _ = self.log_in("bob")
        self.alice.take()  # bob joined

    def history(self, person: Person, name: str, count: int | None = None) -> list[str]:
        """
        What C{person} is shown of its conversation with C{name}: each
        message as C{sender>recipient:text}, then the end's count.
        """
        person.session.private_history(name, count)
        events = person.take()
        *past, end = events
        assert isinstance(end, PrivatePastEnd), events
        lines = []
        for e in past:
            assert isinstance(e, PrivatePast), e
            self.assertEqual(e.other, end.other)
            lines.append(f"{e.sender}>{e.recipient}:{e.text}")
        self.assertEqual(end.count, len(past))
        return lines

    def test_both_ways(self) -> None:
        """
        The messages between two registered users, either way, are shown
        to either, oldest first, named as registered, the last C{N} only
        if asked.
        """
        self.alice.session.whisper("bob", "hi")
        self.clock.advance(1)
        self.bob.session.whisper("Alice", "hello")
        self.bob.take()
        self.alice.take()
        self.assertEqual(
            self.history(self.alice, "BOB"), ["alice>bob:hi", "bob>alice:hello"]
        )
        self.assertEqual(
            self.history(self.bob, "alice"), ["alice>bob:hi", "bob>alice:hello"]
        )
        self.assertEqual(self.history(self.bob, "alice", 1), ["bob>alice:hello"])
        self.bob.session.private_history("alice", 0)
        self.assertEqual(self.errors(self.bob.take()), ["usage"])
        self.assertEqual(self.history(self.alice, "carol"), [])

    def test_offline_recipient(self) -> None:
        """
        A message to a registered user who is offline is stored for them as
        before, and kept in the conversation's history too.
        """
        self.alice.session.whisper("carol", "are you there?")
        [queued] = self.alice.take()
        self.assertIsInstance(queued, Queued)
        carol, events = self.log_in("carol")
        self.assertEqual(
            [e.text for e in self.of_type(events, Stored)], ["are you there?"]
        )
        self.assertEqual(self.history(carol, "alice"), ["alice>carol:are you there?"])

    def test_registered_only(self) -> None:
        """
        Nothing is kept of a conversation with a guest; a guest asking is
        told that only registered users have it; asking about a name
        nobody registered is an error too.
        """
        dave = self.guest("dave")
        dave.session.whisper("alice", "hi from a guest")
        self.alice.session.whisper("dave", "hi guest")
        self.alice.take()
        dave.take()
        for person, name in ((dave, "alice"), (self.alice, "dave")):
            person.session.private_history(name)
            [error] = person.take()
            assert isinstance(error, Error)
            self.assertEqual(error.code, "no-private-history")
        self.assertIn("/register", self.errors_text(dave, "alice"))
        self.assertIn("dave is not registered", self.errors_text(self.alice, "dave"))
        self.assertEqual(self.store._private, {})
        dave.session.privacy(False)
        self.assertEqual(self.errors(dave.take()), ["no-private-history"])

    def errors_text(self, person: Person, name: str) -> str:
        person.session.private_history(name)
        [error] = person.take()
        assert isinstance(error, Error)
        return error.text

    def test_opt_out(self) -> None:
        """
        C{/privacy history off} deletes what was kept of the user's
        conversations and keeps nothing new, whoever sends; C{on} keeps
        again; C{/privacy} says which, and the choice outlives a restart
        of the core.
        """
        self.alice.session.whisper("bob", "kept")
        self.bob.take()
        self.alice.session.privacy()
        [status] = self.alice.take()
        assert isinstance(status, PrivacyStatus)
        self.assertEqual((status.history, status.changed), (True, False))
        self.bob.session.privacy(False)
        [status] = self.bob.take()
        assert isinstance(status, PrivacyStatus)
        self.assertEqual((status.history, status.changed), (False, True))
        self.assertEqual(self.history(self.alice, "bob"), [])
        self.alice.session.whisper("bob", "not kept")
        self.bob.session.whisper("alice", "nor this")
        self.alice.take()
        self.bob.take()
        self.assertEqual(self.history(self.alice, "bob"), [])
        self.assertEqual(self.history(self.bob, "alice"), [])
        self.assertEqual(self.successResultOf(self.store.private_opt_outs()), {"bob"})
        restarted = ChatCore(
            self.clock, self.store, self.spool, cast(PasswordHasher, self.hasher)
        )
        self.successResultOf(restarted.start())
        self.assertEqual(restarted.messages._private_off, {"bob"})
        self.bob.session.privacy(True)
        self.bob.take()
        self.alice.session.whisper("bob", "kept again")
        self.bob.take()
        self.assertEqual(self.history(self.bob, "alice"), ["alice>bob:kept again"])

    def test_unregister_deletes(self) -> None:
        """
        Unregistering deletes the account's private history; whoever
        registers the name next sees none of it.
        """
        self.alice.session.whisper("bob", "secret")
        self.alice.take()
        self.bob.take()
        self.bob.session.unregister("sesame1")
        self.bob.take()
        self.assertEqual(self.store._private, {})
        self.bob.session.register("another1")
        self.bob.take()
        self.assertEqual(self.history(self.bob, "alice"), [])
        self.assertEqual(self.history(self.alice, "bob"), [])

    def test_opt_out_not_recorded(self) -> None:
        """
        If the store cannot record an opt-out, the user is told and the
        messages are kept as before.
        """
        self.patch(
            self.store,
            "set_private_history",
            lambda key, keep: fail(RuntimeError("disk gone")),
        )
        self.bob.session.privacy(False)
        self.assertEqual(self.errors(self.bob.take()), ["internal"])
        self.flushLoggedErrors(RuntimeError)
        self.alice.session.whisper("bob", "still kept")
        self.bob.take()
        self.assertEqual(self.history(self.alice, "bob"), ["alice>bob:still kept"])


class AwayTests(CoreTestCase):
    """
    C{/away} (issue 16, "mentions"): whoever sends an away user a private
    message is told once, with the reason, until the user is back.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.carol = self.guest("carol")
        self.alice.take()
        self.bob.take()

    def test_confirmed(self) -> None:
        """
        C{/away REASON} is answered with the reason; C{/away} alone with
        the news that the user is back.
        """
        self.bob.session.away("  lunch  ")
        [status] = self.bob.take()
        assert isinstance(status, AwayStatus)
        self.assertEqual(status.reason, "lunch")
        self.bob.session.away()
        [status] = self.bob.take()
        assert isinstance(status, AwayStatus)
        self.assertIsNone(status.reason)
        self.assertEqual(self.alice.take() + self.carol.take(), [])

    def test_told_once_per_sender(self) -> None:
        """
        Each sender of a private message to an away user is told once,
        after the message is delivered; the message still arrives.
        """
        self.bob.session.away("lunch")
        self.bob.take()
        self.alice.session.whisper("bob", "hi")
        self.alice.session.whisper("bob", "hello?")
        self.carol.session.whisper("BOB", "hey")
        [away] = self.alice.take()
        assert isinstance(away, Away)
        self.assertEqual((away.name, away.reason), ("bob", "lunch"))
        self.assertEqual([type(e) for e in self.carol.take()], [Away])
        self.assertEqual(len(self.of_type(self.bob.take(), Private)), 3)

    def test_back_and_away_again(self) -> None:
        """
        Once back, nobody is told; away again, everyone is told again.
        """
        self.bob.session.away("lunch")
        self.alice.session.whisper("bob", "hi")
        self.bob.session.away()
        self.alice.take()
        self.alice.session.whisper("bob", "back?")
        self.assertEqual(self.alice.take(), [])
        self.bob.session.away("meeting")
        self.alice.session.whisper("bob", "again?")
        [away] = self.alice.take()
        assert isinstance(away, Away)
        self.assertEqual(away.reason, "meeting")

    def test_not_for_broadcasts_or_self(self) -> None:
        """
        Broadcasts do not tell of it, nor does a message to oneself.
        """
        self.bob.session.away("lunch")
        self.bob.take()
        self.alice.session.say("bob: hi")
        self.bob.session.whisper("bob", "note")
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.of_type(self.bob.take(), Away), [])

    def test_reason_cut(self) -> None:
        """
        A reason longer than L{Limits.away_max} is cut to it; a blank one
        means back.
        """
        self.bob.session.away("x" * 1000)
        [status] = self.bob.take()
        assert isinstance(status, AwayStatus)
        self.assertEqual(status.reason, "x" * self.core.limits.away_max)
        self.bob.session.away("   ")
        [status] = self.bob.take()
        assert isinstance(status, AwayStatus)
        self.assertIsNone(status.reason)

    def test_ends_with_the_connection(self) -> None:
        """
        Away ends when the user logs out: logged in again, nobody is told.
        """
        self.bob.session.away("lunch")
        self.bob.session.closed(delivered=True)
        bob = self.guest("bob")
        bob.take()
        self.alice.take()
        self.alice.session.whisper("bob", "hi")
        self.assertEqual(self.alice.take(), [])

    def test_needs_a_name(self) -> None:
        """
        A client with no name yet cannot be away.
        """
        nameless = self.connect()
        nameless.session.away("lunch")
        self.assertEqual(self.errors(nameless.take()), ["not-joined"])
