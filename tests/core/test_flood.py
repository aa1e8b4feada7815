"""
Tests for L{chat.core.flood} and its use by L{chat.core.session.Session}:
a flooder is held to its rate, and dropped when it keeps on; nobody else
notices.
"""

from __future__ import annotations

import bisect
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chat.core.flood import GRANT, Bucket, Rate
from chat.core.limits import Limits
from chat.events import (
    Error,
    FileChunk,
    FileUpload,
    Left,
    Message,
    Private,
    UserList,
)
from tests.support import CoreTestCase, Person, SlowStore

#: Small limits, so that the numbers in the tests read easily.
LIMITS = Limits(
    announce=5,
    history_on_join=0,
    guest_flood_burst=10,
    guest_flood_rate=2.0,
    flood_burst=20,
    flood_rate=4.0,
    flood_backlog=5.0,
)


class BucketTests(SynchronousTestCase):
    """
    L{Bucket}: tokens taken up to L{GRANT} at a time, refilled at the rate,
    never past the burst.
    """

    def test_burst_then_rate(self) -> None:
        """
        A full bucket gives its burst, then a token every C{1/rate}
        seconds.
        """
        rate = Rate(burst=20, per_second=4.0)
        bucket = Bucket(rate, 100.0)
        taken = [bucket.take(rate, 100.0) for _ in range(4)]
        self.assertEqual(taken, [GRANT, GRANT, 20 - 2 * GRANT, 0])
        self.assertEqual(bucket.wait(rate), 0.25)
        self.assertEqual(bucket.take(rate, 100.2), 0)
        self.assertAlmostEqual(bucket.wait(rate), 0.05)
        self.assertEqual(bucket.take(rate, 100.25), 1)
        self.assertEqual(bucket.take(rate, 100.25), 0)

    def test_refill_capped(self) -> None:
        """
        However long a bucket is left alone, it holds no more than its
        burst.
        """
        rate = Rate(burst=10, per_second=2.0)
        bucket = Bucket(rate, 0.0)
        while bucket.take(rate, 0.0):
            pass
        self.assertEqual(
            sum(iter(lambda: bucket.take(rate, 3600.0), 0)),
            10,
        )


class BucketPropertyTests(SynchronousTestCase):
    """
    Whatever a client does, the bucket spent as a session spends it (an
    integer count of tokens taken up to L{GRANT} at a time) never lets
    more through in any span of time than the burst, L{GRANT} less one,
    and the rate over the span.
    """

    @given(
        st.lists(
            st.tuples(
                st.floats(min_value=0, max_value=3, allow_nan=False),
                st.integers(min_value=1, max_value=30),
            ),
            max_size=40,
        )
    )
    def test_never_faster_than_rate(self, steps: list[tuple[float, int]]) -> None:
        rate = Rate(burst=10, per_second=4.0)
        bucket = Bucket(rate, 0.0)
        now, credit = 0.0, 0
        granted: list[float] = []
        for gap, count in steps:
            now += gap
            for _ in range(count):
                credit -= 1
                if credit < 0:
                    taken = bucket.take(rate, now)
                    credit = taken - 1 if taken else 0
                    if not taken:
                        continue  # held: the session waits, or drops it
                granted.append(now)
        for end, at in enumerate(granted):
            for span in (0.0, 0.5, 2.0, 10.0):
                first = bisect.bisect_left(granted, at - span - 1e-9)
                self.assertLessEqual(
                    end + 1 - first, rate.burst + GRANT - 1 + rate.per_second * span
                )


class FloodTests(CoreTestCase):
    """
    A session holds a flooder to its rate, with the door's input paused,
    and drops one that keeps on.
    """

    limits = LIMITS

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.guest("bob")
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def flooder(self, **kwargs: object) -> Person:
        """
        A guest online, whose login spent one token.
        """
        return self.guest("flood", **kwargs)

    def said(self) -> list[str]:
        """
        What Bob was told of messages since the last call.
        """
        return [e.text for e in self.of_type(self.bob.take(), Message)]

    def test_burst_then_held(self) -> None:
        """
        A guest's burst goes through at once; the next request is held,
        with the input paused, until a token comes, then carried out and
        the input resumed.
        """
        flood = self.flooder()
        for i in range(9):
            flood.session.say(f"m{i}")
        self.assertEqual(self.said(), [f"m{i}" for i in range(9)])
        self.assertFalse(flood.paused)
        flood.session.say("held")
        self.assertTrue(flood.paused)
        self.assertEqual(self.said(), [])
        self.clock.advance(0.49)
        self.assertEqual(self.said(), [])
        self.clock.advance(0.01)
        self.assertEqual(self.said(), ["held"])
        self.assertFalse(flood.paused)
        self.assertEqual(flood.take(), [])

    def test_long_lines_cost_more(self) -> None:
        """
        A message costs a token more per 512 bytes beyond the first: a
        burst of the longest lines is held as soon as its bytes, not its
        count, spend the bucket (found by an attacker's review: 48 guests
        bursting 4 KB lines cut off readers that kept up).
        """
        flood = self.flooder()
        long = "é" * 300  # 600 bytes: two tokens
        for _ in range(4):
            flood.session.say(long)
        flood.session.say("short")
        # The login, four long lines and a short one: the burst of ten.
        self.assertEqual(len(self.said()), 5)
        self.assertFalse(flood.paused)
        flood.session.say("held")
        self.assertTrue(flood.paused)
        self.clock.advance(0.5)
        self.assertEqual(self.said(), ["held"])
        flood.session.say("x" * 4000)
        flood.session.say("after")
        # A 4,000-byte line costs eight tokens, paid before it goes out:
        # four seconds at two a second, then half a second for "after".
        self.clock.advance(3.99)
        self.assertEqual(self.said(), [])
        self.clock.advance(0.01)
        self.assertEqual(self.said(), ["x" * 4000])
        self.clock.advance(0.5)
        self.assertEqual(self.said(), ["after"])

    def test_long_lines_exempt(self) -> None:
        """
        An exempt client's long lines cost nothing.
        """
        flood = self.guest("exempt", exempt=True)
        for _ in range(40):
            flood.session.say("x" * 4000)
        self.assertFalse(flood.paused)
        self.assertEqual(len(self.said()), 40)

    def test_held_in_order(self) -> None:
        """
        Requests given while one is held wait behind it, a token each, in
        order.
        """
        flood = self.flooder()
        for i in range(9):
            flood.session.say(f"m{i}")
        self.said()
        for i in range(4):
            flood.session.say(f"h{i}")
        self.assertTrue(flood.paused)
        self.clock.advance(0.5)
        self.assertEqual(self.said(), ["h0"])
        self.assertTrue(flood.paused)
        self.clock.advance(1.5)
        self.assertEqual(self.said(), ["h1", "h2", "h3"])
        self.assertFalse(flood.paused)

    def test_refills(self) -> None:
        """
        A client that waits gets its burst back, and no more.
        """
        flood = self.flooder()
        for i in range(9):
            flood.session.say(f"m{i}")
        self.clock.advance(3600)
        self.said()
        for i in range(12):
            flood.session.say(f"n{i}")
        # Up to GRANT - 1 tokens taken before the wait may still be held.
        said = len(self.said())
        self.assertGreaterEqual(said, 10)
        self.assertLessEqual(said, 10 + GRANT - 1)

    def test_everything_counts(self) -> None:
        """
        Every request takes a token: refused ones, answers the door asks
        for, requests before the name.
        """
        flood = self.connect()
        for _ in range(4):
            flood.session.users()  # refused: no name yet
        flood.session.choose_name("flood")
        for _ in range(4):
            flood.session.whisper("nobody", "hi")
        flood.session.users()
        self.assertFalse(flood.paused)
        flood.session.users()
        self.assertTrue(flood.paused)

    def test_registered_larger(self) -> None:
        """
        A registered user logged in gets the registered burst; a guest
        only the guests'.
        """
        self.registered("alice")
        alice, _ = self.log_in("alice")
        # Its login took two tokens (the name, the password): logged in, it
        # gets the difference of the bursts.
        for i in range(18):
            alice.session.say(f"a{i}")
        self.assertFalse(alice.paused)
        self.assertEqual(len(self.said()), 18)
        alice.session.say("held")
        self.assertTrue(alice.paused)
        guest = self.guest("carol")
        for i in range(15):
            guest.session.say(f"c{i}")
        self.assertTrue(guest.paused)
        self.assertEqual(len(self.said()), 9)

    def test_registered_rate(self) -> None:
        """
        Once its burst is spent a registered user gets a token every
        C{1/flood_rate} seconds.
        """
        self.registered("alice")
        alice, _ = self.log_in("alice")
        sent = 0
        while not alice.paused:
            alice.session.say(f"a{sent}")
            sent += 1
        self.said()
        alice.session.say("next")
        self.clock.advance(0.25)
        self.assertEqual(len(self.said()), 1)
        self.clock.advance(0.25)
        self.assertEqual(self.said(), ["next"])

    def test_exempt(self) -> None:
        """
        A client from an exempt network is never held.
        """
        fast = self.guest("fast", exempt=True)
        count = 3 * self.limits.requests_per_turn
        for i in range(count):
            fast.session.say(f"m{i}")
            if fast.paused:  # the turn's share: the door waits for the next
                self.clock.advance(0)
            self.assertFalse(fast.paused)
        self.assertEqual(len(self.said()), count)

    def test_others_not_held(self) -> None:
        """
        While a flooder is held, another client's requests go through at
        once: a private message reaches Bob before the flood's rest.
        """
        flood = self.flooder()
        carol = self.guest("carol")
        for i in range(30):
            flood.session.say(f"m{i}")
        self.bob.take()
        carol.session.whisper("bob", "psst")
        self.assertEqual(
            [e.text for e in self.of_type(self.bob.take(), Private)], ["psst"]
        )

    def test_excess_flood(self) -> None:
        """
        A client held back for more than L{Limits.flood_backlog} seconds
        in a row is told why, leaves with C{excess flood} (the others are
        told) and its connection closes; the security log says so.
        """
        flood = self.flooder(peer="198.51.100.7")
        flood.take()
        for i in range(9):
            flood.session.say(f"m{i}")
        self.said()
        sent = 0
        while not flood.closed:
            # The door feeds the session whenever it resumes the input.
            if not flood.paused:
                flood.session.say(f"h{sent}")
                sent += 1
            self.clock.advance(0.1)
        # Five seconds of tokens at two a second, the last wait refused.
        self.assertEqual(sent, 10 + 1)
        events = flood.take()
        [error] = self.of_type(events, Error)
        self.assertEqual(error.code, "excess-flood")
        self.assertIn("(excess flood); disconnecting", error.text)
        self.assertEqual(flood.session.state.value, "closed")
        [left] = self.of_type(self.bob.take(), Left)
        self.assertEqual((left.name, left.reason), ("flood", "excess flood"))
        [logged] = [e for e in self.events if "backlog" in e]
        self.assertEqual(logged["log_level"].name, "warn")
        self.assertEqual(str(logged["peer"]), "198.51.100.7")
        self.assertEqual(logged["name"], "flood")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_keeping_to_the_rate_clears_the_debt(self) -> None:
        """
        A client that was held back, then sends no faster than its rate,
        starts its count again: it is never dropped.
        """
        flood = self.flooder()
        for i in range(9):
            flood.session.say(f"m{i}")
        for _ in range(100):
            # Held back four seconds in a row...
            for _ in range(8):
                flood.session.say("x")
            self.clock.advance(4.0)
            self.assertFalse(flood.paused)
            # ...then it keeps to its rate for a while.
            for _ in range(4):
                self.clock.advance(1.0)
                flood.session.say("y")
        self.assertFalse(flood.closed)

    def test_after_excess_flood(self) -> None:
        """
        Requests a door still hands a session dropped for excess flood are
        dropped: no second reason line, log line or leave.
        """
        flood = self.flooder()
        while not flood.closed:
            if not flood.paused:
                flood.session.say("x")
            self.clock.advance(0.1)
        flood.take()
        self.bob.take()
        before = len(self.events)
        for _ in range(20):
            flood.session.say("more")
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(flood.take(), [])
        self.assertEqual(self.of_type(self.bob.take(), Message), [])
        self.assertEqual([e for e in self.events[before:] if "backlog" in e], [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closed_while_held(self) -> None:
        """
        A connection lost while a request is held leaves no pending call.
        """
        flood = self.flooder()
        for i in range(20):
            flood.session.say(f"m{i}")
        self.assertTrue(flood.paused)
        flood.session.closed(delivered=False)
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class LegitimateWaitTests(CoreTestCase):
    """
    A wait for the store or a password check is not flooding: it holds
    the session's requests, but is not counted against it.
    """

    limits = LIMITS

    def setUp(self) -> None:
        self.slow = SlowStore()
        self.store = self.slow
        super().setUp()
        self.slow.holding = False
        self.alice = self.guest("alice")
        self.alice.take()

    def test_store_wait_not_counted(self) -> None:
        """
        Requests that pile up behind a history the store takes far longer
        than the backlog to answer are carried out afterwards, and the
        client is not dropped.
        """
        self.slow.holding = True
        self.alice.session.history(3)
        for _ in range(8):
            self.alice.session.users()
        self.clock.advance(LIMITS.flood_backlog * 10)
        self.assertTrue(self.alice.paused)
        self.slow.answer()
        self.assertEqual(len(self.of_type(self.alice.take(), UserList)), 8)
        self.assertFalse(self.alice.closed)

    def test_password_wait_not_counted(self) -> None:
        """
        A login whose password check takes long, with requests queued
        behind it, is not flooding.
        """
        self.registered("bob")
        self.hasher.holding = True
        bob = self.at_password("bob")
        bob.session.log_in("sesame1")
        for _ in range(8):
            bob.session.users()
        self.clock.advance(LIMITS.flood_backlog * 10)
        self.hasher.answer()
        self.assertEqual(len(self.of_type(bob.take(), UserList)), 8)
        self.assertFalse(bob.closed)


class FileChunkTests(CoreTestCase):
    """
    File chunks take no token, sent or asked for: uploads and downloads
    are paced by their own windows.
    """

    limits = LIMITS

    def test_chunks_free(self) -> None:
        """
        A guest uploads far more chunks than its burst without being held,
        and still has its burst for messages after.
        """
        bob = self.guest("bob")
        alice = self.guest("alice")
        data = b"x" * 40
        alice.session.offer_file(
            "bob", len(data), hashlib.sha256(data).hexdigest(), "f"
        )
        [upload] = self.of_type(alice.take(), FileUpload)
        for offset in range(len(data)):
            alice.session.file_chunk(upload.id, offset, data[offset : offset + 1])
            self.assertFalse(alice.paused)
        alice.take()
        bob.take()
        for i in range(8):
            alice.session.say(f"m{i}")
        self.assertFalse(alice.paused)
        self.assertEqual(len(self.of_type(bob.take(), Message)), 8)

    def test_downloads_free(self) -> None:
        """
        A guest asks for far more chunks than its burst without being held.
        """
        bob = self.guest("bob")
        alice = self.guest("alice")
        data = b"y" * 40
        alice.session.offer_file(
            "bob", len(data), hashlib.sha256(data).hexdigest(), "f"
        )
        [upload] = self.of_type(alice.take(), FileUpload)
        alice.session.file_chunk(upload.id, 0, data)
        alice.take()
        bob.take()
        for _ in range(30):
            bob.session.get_file(upload.id, 0)
            self.assertFalse(bob.paused)
        self.assertEqual(len(self.of_type(bob.take(), FileChunk)), 30)

    def test_refused_charged(self) -> None:
        """
        Chunks and downloads that are refused (no such file, not the
        client's) are charged like any request: a stream of them is held
        to the rate, where before it went through unchecked (issue 15).
        """
        alice = self.guest("alice")
        burst = self.limits.guest_flood_burst
        for _ in range(burst):
            alice.session.file_chunk(12345, 0, b"x")
            alice.session.get_file(12345, 0)
        self.assertTrue(alice.paused)
        self.assertEqual(set(self.errors(alice.take())), {"no-such-file"})
