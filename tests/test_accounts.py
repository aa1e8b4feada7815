"""
Tests for accounts, offline messages and history in L{chat.dispatcher}, over
L{MemoryStore} with a clock and a hasher that answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from chat.dispatcher import Dispatcher, Limits
from chat.errors import BadUsage, ChatError, NoSuchAccount, NoSuchUser, Throttled
from chat.events import (
    AccountChanged,
    Error,
    Event,
    Message,
    Past,
    PastEnd,
    Prompt,
    Queued,
    Stored,
    StoredEnd,
    Welcome,
)
from chat.passwords import PasswordHasher
from chat.registry import UserRegistry
from chat.store import MemoryStore, QueueFull, StoredMessage
from tests.fakes import FakeClient, FakeHasher, SlowHistoryStore

START = 1_700_000_000.0


class SlowStore(MemoryStore):
    """
    A L{MemoryStore} whose C{pending} answers only when the test says:
    C{answer()} with what the store holds, or C{fail_next(error)}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[tuple[Deferred[list[StoredMessage]], str]] = []

    def pending(
        self, recipient_key: str, now: float, max_age: float
    ) -> Deferred[list[StoredMessage]]:
        d: Deferred[list[StoredMessage]] = Deferred()
        self.waiting.append((d, recipient_key))
        return d

    def answer(self) -> None:
        d, key = self.waiting.pop(0)
        super().pending(key, 0.0, float("inf")).chainDeferred(d)

    def fail_next(self, error: Exception) -> None:
        d, _ = self.waiting.pop(0)
        d.errback(error)


class AccountsTestCase(SynchronousTestCase):
    """
    A dispatcher with a store, accounts and history.
    """

    store: MemoryStore

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.registry = UserRegistry()
        if not hasattr(self, "store"):
            self.store = MemoryStore()
        self.dispatcher = Dispatcher(
            self.registry,
            self.clock,
            announce_limit=5,
            store=self.store,
            hasher=cast(PasswordHasher, FakeHasher()),
            limits=Limits(offline_count=3, history_on_join=2),
        )

    def send(self, client: FakeClient, line: str) -> None:
        """
        C{line} from C{client}; a refusal is delivered as the protocol would.
        """
        self.answer(client, lambda: self.dispatcher.dispatch(client, line))

    def answer(
        self, client: FakeClient, request: Callable[[], Deferred[None] | None]
    ) -> None:
        """
        Carry out C{request} for C{client}: a refusal, at once or later, is
        delivered to it as the protocol would; any other failure stays in
        the Deferred, where trial reports it.
        """
        try:
            done = request()
        except ChatError as e:
            client.deliver(Error.refusing(self.clock.seconds(), e))
            return
        if done is not None:

            def refused(failure: Failure) -> None:
                failure.trap(ChatError)
                error = failure.value
                assert isinstance(error, ChatError)
                client.deliver(Error.refusing(self.clock.seconds(), error))

            done.addErrback(refused)

    def guest(self, name: str, **kwargs: object) -> FakeClient:
        client = FakeClient(**kwargs)  # type: ignore[arg-type]
        self.send(client, name)
        client.take()
        return client

    def registered(self, name: str, password: str = "sesame1") -> FakeClient:
        """
        Register C{name} and leave, so that it is registered and offline.
        """
        client = self.guest(name)
        self.send(client, f"/register {password}")
        self.dispatcher.leave(client, "quit")
        return client

    def log_in(
        self, name: str, password: str = "sesame1", **kwargs: object
    ) -> tuple[FakeClient, list[Event]]:
        client = FakeClient(**kwargs)  # type: ignore[arg-type]
        self.send(client, name)
        prompt = client.take()
        assert isinstance(prompt[-1], Prompt) and prompt[-1].what == "password"
        self.send(client, password)
        return client, client.take()

    def errors(self, events: list[Event]) -> list[str]:
        return [e.code for e in events if isinstance(e, Error)]


class RegisterTests(AccountsTestCase):
    def test_register(self) -> None:
        """
        C{/register PASSWORD} reserves the name, saying that the password
        travelled in clear on a plain connection.
        """
        alice = self.guest("Alice")
        self.send(alice, "/register sesame1")
        [event] = alice.take()
        assert isinstance(event, AccountChanged)
        self.assertEqual(
            (event.action, event.name, event.insecure), ("registered", "Alice", True)
        )
        self.assertEqual(self.dispatcher.accounts, {"alice": "Alice"})
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")

    def test_register_on_tls(self) -> None:
        """
        Over TLS there is no warning.
        """
        alice = self.guest("alice", secure=True)
        self.send(alice, "/register sesame1")
        [event] = alice.take()
        assert isinstance(event, AccountChanged)
        self.assertFalse(event.insecure)

    def test_register_refusals(self) -> None:
        """
        Too short, two words or an already registered name are refused.
        """
        alice = self.guest("alice")
        for line in ("/register abc", "/register two words", "/register"):
            self.assertRaises(BadUsage, self.dispatcher.dispatch, alice, line)
        self.send(alice, "/register sesame1")
        self.assertRaises(
            BadUsage, self.dispatcher.dispatch, alice, "/register other12"
        )

    def test_password_and_unregister(self) -> None:
        """
        C{/password OLD NEW} needs the old password; C{/unregister PASSWORD}
        frees the name for guests.
        """
        alice = self.guest("alice")
        self.assertRaises(
            NoSuchAccount, self.dispatcher.dispatch, alice, "/password a b"
        )
        self.send(alice, "/register sesame1")
        alice.take()
        self.send(alice, "/password wrong99 newpass1")
        self.assertEqual(self.errors(alice.take()), ["wrong-password"])
        self.send(alice, "/password sesame1 newpass1")
        [changed] = alice.take()
        assert isinstance(changed, AccountChanged)
        self.assertEqual(changed.action, "password-changed")
        self.send(alice, "/unregister sesame1")
        self.assertEqual(self.errors(alice.take()), ["wrong-password"])
        self.send(alice, "/unregister newpass1")
        [gone] = alice.take()
        assert isinstance(gone, AccountChanged)
        self.assertEqual(gone.action, "unregistered")
        self.dispatcher.leave(alice)
        guest = FakeClient()
        self.send(guest, "alice")
        self.assertIsInstance(guest.take()[0], Welcome)


class LoginTests(AccountsTestCase):
    def test_right_password(self) -> None:
        """
        A registered name is asked for its password (with the in-clear
        warning); the right one lets it in, with a count of stored messages.
        """
        self.registered("alice")
        client = FakeClient()
        self.send(client, "ALICE")
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual(
            (prompt.what, prompt.name, prompt.insecure), ("password", "alice", True)
        )
        self.assertIsNone(client.name)
        self.send(client, "sesame1")
        events = client.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertIsInstance(events[-1], StoredEnd)
        self.assertEqual(client.name, "alice")

    def test_wrong_password(self) -> None:
        """
        A wrong password is refused and the name asked for again; the name
        stays free.
        """
        self.registered("alice")
        client, events = self.log_in("alice", "nope123")
        self.assertEqual(self.errors(events), ["wrong-password"])
        self.assertIsInstance(events[-1], Prompt)
        self.assertEqual(cast(Prompt, events[-1]).what, "name")
        self.assertIsNone(client.name)
        self.assertEqual(len(self.registry), 0)

    def test_guest_cannot_take_registered_name(self) -> None:
        """
        Asking for a registered name leads to the password prompt, never
        straight in.
        """
        self.registered("alice")
        guest = FakeClient()
        self.send(guest, "alice")
        [prompt] = guest.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual((prompt.what, prompt.name), ("password", "alice"))
        self.assertIsNone(guest.name)
        self.assertNotIn("alice", [c.name for c in self.registry])
        self.send(guest, "/quit")
        self.assertTrue(guest.disconnected)
        self.assertIsNone(guest.name)
        self.assertEqual(len(self.registry), 0)

    def test_throttled_per_name(self) -> None:
        """
        After five wrong passwords for a name within a minute, the name is
        refused at once until the minute is over.
        """
        self.registered("alice")
        for i in range(5):
            self.log_in("alice", "wrong99", peer=f"198.51.100.{i}")
        self.assertRaises(Throttled, self.dispatcher.dispatch, FakeClient(), "alice")
        self.clock.advance(61)
        _, events = self.log_in("alice")
        self.assertIsInstance(events[0], Welcome)

    def test_throttled_per_address(self) -> None:
        """
        Twenty wrong passwords from one address, for any names, stop that
        address; others may still log in.
        """
        names = [f"user{i}" for i in range(5)]
        for name in names:
            self.registered(name)
        for i in range(20):
            self.log_in(names[i % 5], "wrong99", peer="203.0.113.9")
        self.assertRaises(
            Throttled,
            self.dispatcher.dispatch,
            FakeClient(peer="203.0.113.9"),
            "user0",
        )
        other, events = self.log_in("user1", peer="198.51.100.7")
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(other.name, "user1")
        self.clock.advance(61)
        _, events = self.log_in("user0", peer="203.0.113.9")
        self.assertIsInstance(events[0], Welcome)

    def test_rehash(self) -> None:
        """
        A hash made with old parameters is replaced at the next login.
        """
        self.registered("alice")
        self.successResultOf(self.store.set_password_hash("alice", "old:sesame1"))
        self.log_in("alice")
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")


class OfflineTests(AccountsTestCase):
    def test_stored_and_delivered_in_order(self) -> None:
        """
        Private messages to an offline registered user are stored (the
        sender is told) and handed over in order with their original time,
        then a count.
        """
        self.registered("bob")
        alice = self.guest("alice")
        self.send(alice, "bob*first")
        self.clock.advance(5)
        self.send(alice, "/dm bob second")
        queued = alice.take()
        self.assertEqual([type(e) for e in queued], [Queued, Queued])
        self.clock.advance(5)
        bob, events = self.log_in("bob")
        stored = [e for e in events if isinstance(e, Stored)]
        self.assertEqual([e.text for e in stored], ["first", "second"])
        self.assertEqual([e.time for e in stored], [START, START + 5])
        self.assertEqual([e.sender for e in stored], ["alice", "alice"])
        self.assertEqual(cast(StoredEnd, events[-1]).count, 2)

    def test_not_registered_offline_is_error(self) -> None:
        """
        A name neither online nor registered is still an error.
        """
        alice = self.guest("alice")
        self.assertRaises(NoSuchUser, self.dispatcher.dispatch, alice, "nobody*hi")

    def test_limit(self) -> None:
        """
        Over the per-recipient limit the sender is told; nothing is dropped.
        """
        self.registered("bob")
        alice = self.guest("alice")
        for i in range(4):
            self.send(alice, f"bob*m{i}")
        events = alice.take()
        self.assertEqual(self.errors(events), [QueueFull.code])
        self.assertEqual([type(e) for e in events], [Queued, Queued, Queued, Error])
        _, events = self.log_in("bob")
        self.assertEqual(
            [e.text for e in events if isinstance(e, Stored)], ["m0", "m1", "m2"]
        )

    def test_age_limit(self) -> None:
        """
        A stored message older than the age limit is not handed over, and
        no longer counts against the recipient's queue.
        """
        self.registered("bob")
        alice = self.guest("alice")
        for i in range(3):
            self.send(alice, f"bob*old{i}")
        self.clock.advance(Limits().offline_age / 2)
        self.send(alice, "bob*too many")
        self.assertEqual(self.errors(alice.take()), [QueueFull.code])
        self.clock.advance(Limits().offline_age / 2 + 1)
        self.send(alice, "bob*new")
        self.assertEqual([type(e) for e in alice.take()], [Queued])
        _, events = self.log_in("bob")
        self.assertEqual([e.text for e in events if isinstance(e, Stored)], ["new"])
        self.assertEqual(cast(StoredEnd, events[-1]).count, 1)

    def test_text_mode_confirmed_later(self) -> None:
        """
        For a text connection, stored messages leave the store once the
        connection has stayed open a while (or sent a line).
        """
        self.registered("bob")
        self.send(self.guest("alice"), "bob*hi")
        bob, _ = self.log_in("bob")
        self.assertEqual(
            len(
                self.successResultOf(
                    self.store.pending("bob", self.clock.seconds(), 1e9)
                )
            ),
            1,
        )
        self.clock.advance(Limits().confirm_after)
        self.assertEqual(
            self.successResultOf(self.store.pending("bob", self.clock.seconds(), 1e9)),
            [],
        )

    def test_text_mode_unclean_close_keeps(self) -> None:
        """
        A connection lost uncleanly before the messages count as delivered
        leaves them stored for the next login.
        """
        self.registered("bob")
        self.send(self.guest("alice"), "bob*hi")
        bob, _ = self.log_in("bob")
        self.dispatcher.leave(bob, "connection lost", clean=False)
        self.clock.advance(Limits().confirm_after)
        _, events = self.log_in("bob")
        self.assertEqual([e.text for e in events if isinstance(e, Stored)], ["hi"])

    def test_json_mode_needs_ack(self) -> None:
        """
        A JSON client's stored messages stay until it sends C{/ack ID}.
        """
        self.registered("bob")
        self.send(self.guest("alice"), "bob*hi")
        bob = FakeClient()
        self.send(bob, "/mode json")
        self.send(bob, "bob")
        self.send(bob, "sesame1")
        [stored] = [e for e in bob.take() if isinstance(e, Stored)]
        self.clock.advance(Limits().confirm_after * 2)
        self.assertEqual(
            len(
                self.successResultOf(
                    self.store.pending("bob", self.clock.seconds(), 1e9)
                )
            ),
            1,
        )
        self.assertRaises(BadUsage, self.dispatcher.dispatch, bob, "/ack x")
        self.send(bob, f"/ack {stored.id}")
        self.assertEqual(
            self.successResultOf(self.store.pending("bob", self.clock.seconds(), 1e9)),
            [],
        )


class CatchUpOrderTests(AccountsTestCase):
    def setUp(self) -> None:
        self.slow = SlowStore()
        self.store = self.slow
        super().setUp()

    def test_live_after_stored(self) -> None:
        """
        Live traffic that arrives while stored messages are being read
        comes after them.
        """
        self.registered("bob")
        alice = self.guest("alice")
        self.send(alice, "bob*stored")
        bob = FakeClient()
        self.send(bob, "bob")
        bob.take()
        self.send(bob, "sesame1")
        self.send(alice, "live")
        self.send(alice, "bob*live private")
        self.assertEqual(bob.events, [])
        self.slow.answer()
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
        self.registered("bob")
        alice = self.guest("alice")
        self.send(alice, "bob*kept")
        bob = FakeClient()
        self.send(bob, "bob")
        bob.take()
        self.send(bob, "sesame1")
        self.send(alice, "live")
        self.slow.fail_next(OSError("disk gone"))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = bob.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
        self.assertEqual(cast(Message, events[-1]).text, "live")
        self.assertEqual(bob.name, "bob")
        self.dispatcher.leave(bob)
        bob, events = self.log_in("bob")
        self.slow.answer()
        self.assertEqual(
            [e.text for e in bob.take() if isinstance(e, Stored)], ["kept"]
        )


class HistoryTests(AccountsTestCase):
    def test_shown_on_join_and_asked(self) -> None:
        """
        A new user sees the last few broadcasts marked as history;
        C{/history N} shows the last N and an end line.
        """
        alice = self.guest("alice")
        for text in ("one", "two", "three"):
            self.clock.advance(1)
            self.send(alice, text)
        self.send(alice, "/me waves")
        carol = FakeClient()
        self.send(carol, "carol")
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        past = [e for e in events if isinstance(e, Past)]
        self.assertEqual(
            [(e.text, e.action) for e in past], [("three", False), ("waves", True)]
        )
        self.assertEqual(cast(PastEnd, events[-1]).count, 2)
        self.send(carol, "/history 3")
        events = carol.take()
        self.assertEqual(
            [e.text for e in events if isinstance(e, Past)], ["two", "three", "waves"]
        )
        self.assertEqual(cast(PastEnd, events[-1]).count, 3)
        for bad in ("/history 0", "/history 201", "/history x"):
            self.assertRaises(BadUsage, self.dispatcher.dispatch, carol, bad)

    def test_no_history(self) -> None:
        """
        With history off nothing is kept and nothing replayed.
        """
        self.dispatcher.keep_history = False
        alice = self.guest("alice")
        self.send(alice, "one")
        carol = FakeClient()
        self.send(carol, "carol")
        self.assertEqual([type(e) for e in carol.take()], [Welcome])
        self.send(carol, "two")
        self.send(carol, "/history")
        self.assertEqual(cast(PastEnd, carol.take()[-1]).count, 0)
        self.assertEqual(self.successResultOf(self.store.history("", 10)), [])
        self.assertIsInstance(alice.take()[-1], Message)


class GuestCatchUpTests(AccountsTestCase):
    """
    A guest is handed history at once when the store has it at hand, and
    held until it comes when the store has to look for it.
    """

    def setUp(self) -> None:
        self.slow = SlowHistoryStore()
        self.store = self.slow
        super().setUp()

    def test_history_answered_later(self) -> None:
        alice = FakeClient()
        self.send(alice, "alice")
        self.assertEqual(alice.events, [])
        self.slow.answer()
        self.assertEqual([type(e) for e in alice.take()], [Welcome])
        self.send(alice, "one")
        carol = FakeClient()
        self.send(carol, "carol")
        self.send(alice, "live")
        self.assertEqual(carol.events, [])
        self.slow.answer()
        events = carol.take()
        self.assertEqual([type(e) for e in events], [Welcome, Past, PastEnd, Message])
        self.assertEqual(
            [cast(Past, events[1]).text, cast(Message, events[3]).text],
            ["one", "live"],
        )

    def test_history_failure(self) -> None:
        carol = FakeClient()
        self.send(carol, "carol")
        self.slow.fail_next(OSError("disk gone"))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
        self.assertEqual(carol.name, "carol")

    def test_history_failed_at_once(self) -> None:
        """
        A store whose history lookup has already failed lets the guest in
        with the same error as one that fails later.
        """
        self.slow.history = lambda room, limit: fail(OSError("disk gone"))  # type: ignore[method-assign]
        carol = FakeClient()
        self.send(carol, "carol")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        events = carol.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(self.errors(events), ["store-failed"])
