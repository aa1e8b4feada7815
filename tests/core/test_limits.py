"""
Tests for L{chat.core.limits.Throttle}, which slows down password
guessing (the login tests in L{tests.core.test_accounts} use it through
the core).
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chat.core.limits import Throttle


class ThrottleTests(SynchronousTestCase):
    """
    At most C{limit} failures per key in any C{window} seconds.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.throttle = Throttle(self.clock, limit=3, window=60.0)

    def failed(self, key: str, times: int = 1) -> None:
        """
        Record C{times} failures for C{key} now.
        """
        for _ in range(times):
            self.throttle.failed(key)

    def test_under_limit(self) -> None:
        """
        Fewer failures than the limit do not make a key wait.
        """
        self.failed("alice", 2)
        self.assertEqual(self.throttle.wait("alice"), 0.0)

    def test_at_limit(self) -> None:
        """
        At the limit a key waits until its oldest failure leaves the
        window; other keys do not wait.
        """
        self.failed("alice")
        self.clock.advance(10)
        self.failed("alice", 2)
        self.assertEqual(self.throttle.wait("alice"), 50.0)
        self.assertEqual(self.throttle.wait("bob"), 0.0)
        self.clock.advance(49)
        self.assertEqual(self.throttle.wait("alice"), 1.0)
        self.clock.advance(1)
        self.assertEqual(self.throttle.wait("alice"), 0.0)

    def test_window_slides(self) -> None:
        """
        Failures older than the window no longer count, and a key with
        none left is forgotten.
        """
        self.failed("alice", 3)
        self.clock.advance(61)
        self.assertEqual(self.throttle.wait("alice"), 0.0)
        self.assertEqual(len(self.throttle), 0)
        self.failed("alice", 2)
        self.assertEqual(self.throttle.wait("alice"), 0.0)

    def test_succeeded_forgets(self) -> None:
        """
        A success forgets the key's failures.
        """
        self.failed("alice", 3)
        self.throttle.succeeded("alice")
        self.assertEqual(self.throttle.wait("alice"), 0.0)
        self.assertEqual(len(self.throttle), 0)
        self.throttle.succeeded("never failed")

    def test_stale_keys_swept(self) -> None:
        """
        Keys nobody retries are dropped as new keys fail, so the memory
        kept follows the recent failure rate, not every key ever tried.
        """
        for i in range(1024):
            self.throttle.failed(f"old{i}")
        self.clock.advance(61)
        for i in range(1024):
            self.throttle.failed(f"new{i}")
        self.assertEqual(len(self.throttle), 1024)
