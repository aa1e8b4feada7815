"""
Tests for L{chat.core.passwords}, without the global reactor: the hasher is
given a reactor that stands in for C{callFromThread} and a thread pool; the
queue in front of it is given a hasher whose answers the test gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from argon2.exceptions import InvalidHashError

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chat.core.passwords import (
    ACCOUNT,
    LOGIN,
    RETRY,
    TRUSTED,
    HashQueue,
    PasswordHasher,
)
from chat.errors import ServerBusy
from tests.support import FakeHasher

_P = ParamSpec("_P")
_R = TypeVar("_R")


@implementer(IReactorFromThreads)
class FromThreads:
    """
    The part of a reactor that results come back through: it keeps the
    calls made from other threads until L{run} makes them here.

    @ivar threads: the names of the threads that called in.
    """

    def __init__(self) -> None:
        self.calls: list[Callable[[], object]] = []
        self.threads: list[str] = []

    def callFromThread(
        self, callable: Callable[..., Any], *args: object, **kwargs: object
    ) -> None:
        self.threads.append(threading.current_thread().name)
        self.calls.append(lambda: callable(*args, **kwargs))

    def run(self) -> None:
        """
        Make the calls kept so far, in order.
        """
        calls, self.calls = self.calls, []
        for call in calls:
            call()


class InlinePool:
    """
    A stand-in for a L{ThreadPool} that does the work at once, in the
    calling thread.
    """

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, object], object],
        func: Callable[..., object],
        *args: object,
        **kw: object,
    ) -> None:
        try:
            result = func(*args, **kw)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


def cheap(reactor: IReactorFromThreads, threadpool: object) -> PasswordHasher:
    """
    A hasher with tiny costs: the tests check behaviour, not strength.
    """
    return PasswordHasher(
        time_cost=1,
        memory_cost=8,
        parallelism=1,
        reactor=reactor,
        threadpool=cast(ThreadPool, threadpool),
    )


class PasswordHasherTests(SynchronousTestCase):
    """
    L{PasswordHasher} hashes and verifies with Argon2id, handing the
    results back through the reactor.
    """

    def setUp(self) -> None:
        self.reactor = FromThreads()
        self.hasher = cheap(self.reactor, InlinePool())

    def result(self, d: Deferred[_R]) -> _R:
        """
        The result of C{d}, once the reactor made the calls that fire it.
        """
        self.assertNoResult(d)
        self.reactor.run()
        return self.successResultOf(d)

    def test_hash_and_verify(self) -> None:
        """
        The right password verifies, a wrong one gives C{False}; each hash
        has its own salt.
        """
        hashed = self.result(self.hasher.hash("correct horse"))
        self.assertTrue(hashed.startswith("$argon2id$"))
        self.assertNotIn("correct horse", hashed)
        self.assertIs(self.result(self.hasher.verify(hashed, "correct horse")), True)
        self.assertIs(self.result(self.hasher.verify(hashed, "Correct horse")), False)
        self.assertNotEqual(self.result(self.hasher.hash("correct horse")), hashed)

    def test_invalid_hash(self) -> None:
        """
        A stored hash that is not an Argon2 hash is an error, not a wrong
        password.
        """
        d = self.hasher.verify("not a hash", "password")
        self.reactor.run()
        self.failureResultOf(d, InvalidHashError)

    def test_needs_rehash(self) -> None:
        """
        A hash made with other costs needs redoing; one made with the
        current costs does not, and still verifies under new costs.
        """
        hashed = self.result(self.hasher.hash("pw"))
        self.assertFalse(self.hasher.needs_rehash(hashed))
        stronger = PasswordHasher(
            time_cost=2,
            memory_cost=16,
            parallelism=1,
            reactor=self.reactor,
            threadpool=cast(ThreadPool, InlinePool()),
        )
        self.assertTrue(stronger.needs_rehash(hashed))
        self.assertTrue(self.result(stronger.verify(hashed, "pw")))

    def test_runs_in_threadpool(self) -> None:
        """
        Hashing and verifying run in the given thread pool, not on the
        reactor thread, and their results come back through the reactor.
        """
        threads: list[str] = []

        class RecordingPool(ThreadPool):
            """
            A thread pool that notes which thread does each piece of work.
            """

            def callInThreadWithCallback(
                self,
                onResult: Callable[[bool, _R], object] | None,
                func: Callable[_P, _R],
                *args: _P.args,
                **kw: _P.kwargs,
            ) -> None:
                def recorded() -> _R:
                    threads.append(threading.current_thread().name)
                    return func(*args, **kw)

                super().callInThreadWithCallback(onResult, recorded)

        known = self.result(self.hasher.hash("pw"))
        del self.reactor.threads[:]
        pool = RecordingPool(1, 1, name="test-hash")
        pool.start()
        hasher = cheap(self.reactor, pool)
        hashed = hasher.hash("pw")
        verified = hasher.verify(known, "pw")
        # Stopping joins the pool's thread once the work queued is done:
        # no waiting on the clock.
        pool.stop()
        self.assertEqual(len(threads), 2)
        for name in threads + self.reactor.threads:
            self.assertIn("test-hash", name)
        self.assertTrue(self.result(verified))
        self.assertTrue(self.successResultOf(hashed).startswith("$argon2id$"))


class HashQueueTests(SynchronousTestCase):
    """
    L{HashQueue}: at most as many hashes as the hasher has threads, the
    rest waiting by kind, logins first, each kind bounded (issue 15).
    """

    def setUp(self) -> None:
        self.hasher = FakeHasher()
        self.hasher.holding = True
        self.queue = HashQueue(cast(PasswordHasher, self.hasher), workers=2, limit=2)

    def check(self, password: str, kind: int) -> Deferred[bool]:
        return self.queue.verify("hashed:right", password, kind=kind)

    def test_at_most_workers(self) -> None:
        """
        Only as many hashes as there are workers reach the hasher; the
        next starts when one is done.
        """
        checks = [self.check(f"p{i}", LOGIN) for i in range(4)]
        self.assertEqual(self.hasher.checked, ["p0", "p1"])
        self.assertEqual(self.queue.waiting, (0, 2, 0, 0))
        self.hasher.answer()
        self.assertIs(self.successResultOf(checks[0]), False)
        self.assertEqual(self.hasher.checked, ["p0", "p1", "p2"])

    def test_logins_first(self) -> None:
        """
        Waiting work is served logins from an account's recent addresses
        first, then other logins, then logins of addresses that guessed
        wrong, then account requests, whatever the order it came in.
        """
        self.check("busy0", ACCOUNT)
        self.check("busy1", ACCOUNT)
        self.queue.hash("register0")
        self.check("retry0", RETRY)
        self.queue.hash("register1")
        self.check("retry1", RETRY)
        self.check("login0", LOGIN)
        self.check("trusted0", TRUSTED)
        self.assertEqual(self.queue.waiting, (1, 1, 2, 2))
        for _ in range(8):
            self.hasher.answer()
        self.assertEqual(
            self.hasher.checked,
            ["busy0", "busy1", "trusted0", "login0", "retry0", "retry1"],
        )
        self.assertEqual(self.queue.waiting, (0, 0, 0, 0))

    def test_full(self) -> None:
        """
        Work that finds its kind's queue full fails at once with
        L{ServerBusy}; the other kinds still wait.
        """
        for i in range(4):
            self.check(f"p{i}", RETRY)
        busy = self.check("one too many", RETRY)
        self.assertEqual(self.failureResultOf(busy, ServerBusy).value.code, "busy")
        self.assertNoResult(self.check("login", LOGIN))
        self.assertNoResult(self.queue.hash("register"))
        self.assertNotIn("one too many", self.hasher.checked)

    def test_failure_frees_worker(self) -> None:
        """
        A hash that fails (a corrupt stored hash) makes room for the next.
        """
        first = self.check("p0", LOGIN)
        self.check("p1", LOGIN)
        self.check("p2", LOGIN)
        self.hasher.fail_next(ValueError("corrupt"))
        self.failureResultOf(first, ValueError)
        self.assertEqual(self.hasher.checked, ["p0", "p1", "p2"])
