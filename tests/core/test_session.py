"""
Tests for L{chat.core.session}: the rules every door's requests follow,
whatever the request (order, pausing, the per-turn share, refusals).
"""

from __future__ import annotations

from typing import cast

from twisted.internet.defer import Deferred
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher

from chat.core.limits import Limits
from chat.errors import BadInput, NotJoined, StoreFailed
from chat.events import (
    Error,
    Goodbye,
    Joined,
    Message,
    PastEnd,
    UserList,
    Welcome,
)
from chat.store.interface import HistoryEntry
from chat.store.memory import MemoryStore
from tests.support import CoreTestCase, SlowStore


class OrderTests(CoreTestCase):
    """
    A request that waits holds the session's later ones, which are carried
    out afterwards, in order, with the door's input paused meanwhile.
    """

    def setUp(self) -> None:
        super().setUp()
        self.registered("alice")
        self.bob = self.guest("bob")

    def test_held_until_done(self) -> None:
        """
        Requests given while a password is checked wait for the check and
        then are carried out in order; the input is paused once, and
        resumed when they are done.
        """
        self.hasher.holding = True
        alice = self.at_password("alice")
        alice.session.log_in("sesame1")
        self.assertTrue(alice.paused)
        alice.session.say("first")
        alice.session.users()
        alice.session.say("second")
        self.assertEqual(alice.take(), [])
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.core.presence.names(), ["bob"])
        self.hasher.answer()
        events = alice.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertIsInstance(events[-1], UserList)
        self.assertEqual(
            [(type(e), getattr(e, "text", None)) for e in self.bob.take()],
            [(Joined, None), (Message, "first"), (Message, "second")],
        )
        self.assertFalse(alice.paused)
        self.assertEqual(alice.pauses, 1)

    def test_held_across_waits(self) -> None:
        """
        A request that waits twice (a check, then a hash) holds the later
        ones until both are done.
        """
        alice, _ = self.log_in("alice")
        self.bob.take()
        self.hasher.holding = True
        alice.session.change_password("sesame1", "newpass1")
        alice.session.say("after")
        self.hasher.answer()
        self.assertEqual(self.bob.take(), [])
        self.assertTrue(alice.paused)
        self.hasher.answer()
        self.assertEqual([type(e).__name__ for e in alice.take()], ["AccountChanged"])
        [said] = self.bob.take()
        assert isinstance(said, Message)
        self.assertEqual(said.text, "after")
        self.assertFalse(alice.paused)

    def test_closed_drops_queued(self) -> None:
        """
        Requests still waiting when the connection closes are dropped, and
        the client is not let in when its check answers.
        """
        self.hasher.holding = True
        alice = self.at_password("alice")
        alice.session.log_in("sesame1")
        alice.session.say("lost")
        alice.session.closed(delivered=True)
        self.hasher.answer()
        self.assertEqual(alice.take(), [])
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.core.presence.names(), ["bob"])


class SlowStoreOrderTests(CoreTestCase):
    """
    Requests that wait for the store hold the later ones too.
    """

    def setUp(self) -> None:
        self.slow = SlowStore()
        self.store = self.slow
        super().setUp()
        self.slow.holding = False
        self.alice = self.guest("alice")
        self.slow.holding = True

    def test_history_holds_users(self) -> None:
        """
        A C{history} the store must look for is answered before a later
        C{users}, and the input is paused until both are done.
        """
        self.alice.session.history(3)
        self.alice.session.users()
        self.assertTrue(self.alice.paused)
        self.assertEqual(self.alice.take(), [])
        self.slow.answer()
        self.assertEqual([type(e) for e in self.alice.take()], [PastEnd, UserList])
        self.assertFalse(self.alice.paused)

    def test_unexpected_failure(self) -> None:
        """
        A waiting request that fails with anything but a L{ChatError}
        becomes an C{internal} error for its client and a logged failure;
        the session goes on.
        """
        self.alice.session.history(3)
        self.alice.session.users()
        self.slow.fail_next(RuntimeError("disk on fire"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        events = self.alice.take()
        self.assertEqual(self.errors(events), ["internal"])
        self.assertIsInstance(events[-1], UserList)
        self.assertFalse(self.alice.paused)

    def test_chat_error_later(self) -> None:
        """
        A waiting request that fails with a L{ChatError} is refused like
        one that fails at once: an error with its code, nothing logged as a
        failure.
        """
        self.alice.session.history(3)
        self.slow.fail_next(StoreFailed("the store is away."))
        [error] = self.alice.take()
        assert isinstance(error, Error)
        self.assertEqual(
            (error.code, error.text), ("store-failed", "the store is away.")
        )
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_failure_after_close(self) -> None:
        """
        A waiting request that fails after the connection closed tells
        nobody.
        """
        self.alice.session.history(3)
        self.alice.session.closed(delivered=False)
        self.slow.fail_next(RuntimeError("disk on fire"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.alice.take(), [])


class BrokenStore(MemoryStore):
    """
    A L{MemoryStore} whose C{history} raises at once once C{broken}: a
    bug, as a handler would raise it.
    """

    broken = False

    def history(self, room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        if self.broken:
            raise RuntimeError("a bug")
        return super().history(room, limit)


class SynchronousFailureTests(CoreTestCase):
    """
    A request that raises anything but a L{ChatError} at once is a bug:
    its client is told, the door never sees it, the session goes on.
    """

    store: BrokenStore

    def setUp(self) -> None:
        self.store = BrokenStore()
        super().setUp()

    def test_internal_error(self) -> None:
        """
        The client gets an C{internal} error and the next answer; the
        failure is logged.
        """
        self.registered("bob")
        alice = self.guest("alice")
        alice.session.whisper("bob", "kept")
        bob, _ = self.log_in("bob")
        # Bob was sent a stored message: his requests take the slow path.
        self.assertIsNotNone(bob.session.unconfirmed)
        self.store.broken = True
        for person in (alice, bob):
            person.session.history(3)
            person.session.users()
            events = person.take()
            self.assertEqual(self.errors(events), ["internal"])
            self.assertIsInstance(events[-1], UserList)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class TurnTests(CoreTestCase):
    """
    At most L{Limits.requests_per_turn} requests of a session are carried
    out per turn; the rest wait for the next, with the input paused.
    """

    limits = Limits(announce=5, offline_count=3, history_on_join=2, requests_per_turn=3)

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        # Bob's arrival is announced to alice: a turn ends, and alice's
        # share starts afresh.
        self.bob = self.guest("bob")
        self.alice.take()

    def test_share(self) -> None:
        """
        Past its share a session's requests wait for the next turn, which
        carries them out and resumes the input.
        """
        for _ in range(5):
            self.alice.session.users()
        self.assertEqual(len(self.of_type(self.alice.events, UserList)), 3)
        self.assertTrue(self.alice.paused)
        self.clock.advance(0)
        self.assertEqual(len(self.of_type(self.alice.events, UserList)), 5)
        self.assertFalse(self.alice.paused)
        self.assertEqual(self.alice.pauses, 1)

    def test_nothing_counts(self) -> None:
        """
        A request for nothing (a door's blank line) counts against the
        share like any other.
        """
        for _ in range(3):
            self.alice.session.nothing()
        self.alice.session.users()
        self.assertTrue(self.alice.paused)
        self.assertEqual(self.of_type(self.alice.events, UserList), [])
        self.clock.advance(0)
        self.assertEqual(len(self.of_type(self.alice.events, UserList)), 1)

    def test_share_kept_in_order(self) -> None:
        """
        Requests spread over turns are carried out in the order given, and
        requests given while a session waits for its turn queue behind.
        """
        for i in range(4):
            self.alice.session.say(f"m{i}")
        self.alice.session.say("m4")
        self.assertTrue(self.alice.paused)
        self.assertEqual(
            [e.text for e in self.of_type(self.bob.take(), Message)],
            ["m0", "m1", "m2", "m3", "m4"],
        )
        self.assertFalse(self.alice.paused)

    def test_sessions_counted_apart(self) -> None:
        """
        Each session has its own share.
        """
        for _ in range(3):
            self.alice.session.users()
            self.bob.session.users()
        self.assertFalse(self.alice.paused)
        self.assertFalse(self.bob.paused)
        self.assertEqual(len(self.of_type(self.bob.events, UserList)), 3)

    def test_closed_drops_next_turn(self) -> None:
        """
        Requests waiting for the next turn are dropped when the connection
        closes.
        """
        for _ in range(5):
            self.alice.session.users()
        self.alice.session.closed(delivered=True)
        self.clock.advance(0)
        self.assertEqual(len(self.of_type(self.alice.events, UserList)), 3)


class LongQueueTests(CoreTestCase):
    """
    A long queue of requests the store answers at once is carried out in
    one loop, not one nested call per request.
    """

    limits = Limits(
        announce=5,
        offline_count=3,
        history_on_join=2,
        requests_per_turn=5_000,
        queued_max=5_000,
    )

    def test_many_answered_at_once(self) -> None:
        """
        Thousands of C{history} requests queued behind a login are all
        answered, in order, when the login's check answers: far more than
        Python's recursion limit would allow if each started a new drain.
        """
        self.registered("alice")
        self.hasher.holding = True
        # Exempt from flood control: thousands of requests at once.
        alice = self.at_password("alice", exempt=True)
        alice.session.log_in("sesame1")
        count = 3_000
        for _ in range(count):
            alice.session.history(1)
        self.assertTrue(alice.paused)
        self.hasher.answer()
        self.assertEqual(len(self.of_type(alice.take(), PastEnd)), count)
        self.assertFalse(alice.paused)


class QueueLimitTests(CoreTestCase):
    """
    L{Limits.queued_max}: a door that keeps feeding a busy session is
    dropped.
    """

    limits = Limits(announce=5, offline_count=3, history_on_join=2, queued_max=3)

    def test_queued_max(self) -> None:
        """
        One request over the queue's limit aborts the connection and drops
        what was queued.
        """
        self.registered("alice")
        bob = self.guest("bob")
        self.hasher.holding = True
        alice = self.at_password("alice")
        alice.session.log_in("sesame1")
        for i in range(3):
            alice.session.say(f"m{i}")
        self.assertFalse(alice.aborted)
        alice.session.say("one too many")
        self.assertTrue(alice.aborted)
        self.hasher.answer()
        self.assertEqual(self.of_type(bob.take(), Message), [])


class RefusalTests(CoreTestCase):
    """
    Refused requests become L{Error} events and log lines; nothing else
    happens.
    """

    def test_needs_name(self) -> None:
        """
        Every request that needs a name is refused with C{not-joined}
        before the client has one, and changes nothing.
        """
        alice = self.guest("alice")
        person = self.connect()
        session = person.session
        requests = [
            lambda: session.say("hi"),
            lambda: session.action("waves"),
            lambda: session.whisper("alice", "hi"),
            lambda: session.say_in("#chess", "hi"),
            lambda: session.users(),
            lambda: session.history(),
            lambda: session.rooms(),
            lambda: session.members("#chess"),
            lambda: session.acknowledge([1]),
            lambda: session.join("#chess"),
            lambda: session.leave("#chess"),
            lambda: session.topic("#chess", "moves"),
            lambda: session.set_invite_only("#chess", True),
            lambda: session.invite("alice", "#chess"),
            lambda: session.kick("alice", "#chess"),
            lambda: session.set_operator("alice", "#chess", True),
            lambda: session.register("sesame1"),
            lambda: session.change_password("sesame1", "newpass1"),
            lambda: session.unregister("sesame1"),
            lambda: session.offer_file("alice", 3, "0" * 64, "a.txt"),
            lambda: session.file_chunk(1, 0, b"abc"),
            lambda: session.resume_upload(1),
            lambda: session.get_file(1, 0),
            lambda: session.file_done(1),
            lambda: session.decline_file(1),
            lambda: session.cancel_file(1),
            lambda: session.files(),
        ]
        for request in requests:
            request()
            self.assertEqual(self.errors(person.take()), [NotJoined.code])
        self.assertEqual(alice.take(), [])
        self.assertEqual(self.core.accounts.names, {})
        self.assertEqual(self.core.presence.names(), ["alice"])

    def test_without_name(self) -> None:
        """
        Quitting, and the door's own answers and refusals, need no name.
        """
        person = self.connect()
        answer = UserList(0.0, ())
        person.session.tell(answer)
        person.session.refuse(BadInput("lines must be UTF-8."))
        person.session.quit()
        events = person.take()
        self.assertIs(events[0], answer)
        self.assertEqual(self.errors(events), ["bad-input"])
        self.assertIsInstance(events[-1], Goodbye)

    def test_in_order(self) -> None:
        """
        The door's answers and refusals reach the client in order with the
        answers of the core.
        """
        alice = self.guest("alice")
        answer = UserList(0.0, ("door",))
        alice.session.users()
        alice.session.refuse(BadInput("lines must be UTF-8."))
        alice.session.tell(answer)
        alice.session.whisper("nobody", "hi")
        events = alice.take()
        self.assertEqual([type(e) for e in events], [UserList, Error, UserList, Error])
        self.assertIs(events[2], answer)
        self.assertEqual(self.errors(events), ["bad-input", "no-such-user"])

    def test_error_event(self) -> None:
        """
        A refusal is an L{Error} with the error's code and text, stamped
        with the clock's time.
        """
        alice = self.guest("alice")
        self.clock.advance(7)
        alice.session.whisper("nobody", "hi")
        [error] = alice.take()
        assert isinstance(error, Error)
        self.assertEqual(error.code, "no-such-user")
        self.assertIn("nobody", error.text)
        self.assertEqual(error.time, self.clock.seconds())

    def test_logged(self) -> None:
        """
        A refusal is logged with the client's address, name and the reason.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        alice = self.guest("alice", peer="198.51.100.3")
        alice.session.whisper("nobody", "hi")
        [refused] = [e for e in events if "reason" in e]
        self.assertEqual(
            refused["log_format"], "refused a request from {peer} ({name}): {reason}"
        )
        self.assertEqual(
            (str(refused["peer"]), refused["name"]), ("198.51.100.3", "alice")
        )
        self.assertIn("nobody", refused["reason"])

    def test_logged_escaped(self) -> None:
        """
        What the client sent reaches the log escaped: a refusal that names
        it cannot write terminal controls or a line of its own there.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        alice = self.guest("alice")
        alice.session.whisper("\x1b[2J\nforged", "hi")
        [refused] = [e for e in events if "reason" in e]
        self.assertIn("\\x1b[2J\\nforged", refused["reason"])
        self.assertTrue(refused["reason"].isprintable())

    def test_log_rate_limited(self) -> None:
        """
        Refusals are logged through the core's L{LogLimiter}: past its
        budget they are only counted, while every client is still told.
        """
        events: list[LogEvent] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        alice = self.guest("alice")
        self.core.log_limiter.per_second = 2
        self.clock.advance(1)
        del events[:]
        for _ in range(5):
            alice.session.whisper("nobody", "hi")
        self.assertEqual(self.errors(alice.take()), ["no-such-user"] * 5)
        self.assertEqual(len([e for e in events if "reason" in e]), 2)
        self.clock.advance(1)
        [report] = [e for e in events if "count" in e]
        self.assertEqual(report["count"], 3)


class AcknowledgesTests(CoreTestCase):
    """
    C{set_acknowledges}: a capability the door may learn until the client
    is in.
    """

    def test_before_name(self) -> None:
        """
        Before the client is in, the door may say it acknowledges.
        """
        person = self.connect()
        self.assertFalse(person.session.acknowledges)
        person.session.set_acknowledges(True)
        person.session.choose_name("alice")
        self.assertTrue(person.session.acknowledges)

    def test_fixed_once_in(self) -> None:
        """
        Once the client is in, the capability no longer changes.
        """
        alice = self.guest("alice", acknowledges=True)
        alice.session.set_acknowledges(False)
        self.assertTrue(alice.session.acknowledges)
