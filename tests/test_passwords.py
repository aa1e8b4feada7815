"""
Tests for L{chat.passwords}.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from argon2.exceptions import InvalidHashError

from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from chat.passwords import PasswordHasher

_P = ParamSpec("_P")
_R = TypeVar("_R")


def cheap(threadpool: ThreadPool | None = None) -> PasswordHasher:
    """
    A hasher with tiny costs: the tests check behaviour, not strength.
    """
    return PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1, threadpool=threadpool
    )


class PasswordHasherTests(TestCase):
    """
    L{PasswordHasher} hashes and verifies with Argon2id in a thread pool.
    """

    def setUp(self) -> None:
        self.hasher = cheap()

    async def test_hash_and_verify(self) -> None:
        """
        The right password verifies, a wrong one gives C{False}; each hash
        has its own salt.
        """
        hashed = await self.hasher.hash("correct horse")
        self.assertTrue(hashed.startswith("$argon2id$"))
        self.assertNotIn("correct horse", hashed)
        self.assertIs(await self.hasher.verify(hashed, "correct horse"), True)
        self.assertIs(await self.hasher.verify(hashed, "Correct horse"), False)
        self.assertNotEqual(await self.hasher.hash("correct horse"), hashed)

    async def test_invalid_hash(self) -> None:
        """
        A stored hash that is not an Argon2 hash is an error, not a wrong
        password.
        """
        try:
            await self.hasher.verify("not a hash", "password")
        except InvalidHashError:
            pass
        else:
            self.fail("no InvalidHashError")

    async def test_needs_rehash(self) -> None:
        """
        A hash made with other costs needs redoing; one made with the
        current costs does not, and still verifies under new costs.
        """
        hashed = await self.hasher.hash("pw")
        self.assertFalse(self.hasher.needs_rehash(hashed))
        stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
        self.assertTrue(stronger.needs_rehash(hashed))
        self.assertTrue(await stronger.verify(hashed, "pw"))

    async def test_runs_in_threadpool(self) -> None:
        """
        Hashing and verifying run in the given thread pool, not on the
        reactor thread.
        """
        threads: list[str] = []

        class RecordingPool(ThreadPool):
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

        pool = RecordingPool(1, 1, name="test-hash")
        pool.start()
        self.addCleanup(pool.stop)
        hasher = cheap(pool)
        self.assertTrue(await hasher.verify(await hasher.hash("pw"), "pw"))
        self.assertEqual(len(threads), 2)
        for name in threads:
            self.assertIn("test-hash", name)
