# -*- test-case-name: tests.core.test_passwords -*-
"""
Password hashing off the reactor thread.

Argon2id is slow and memory-hard on purpose (tens of milliseconds and
64 MiB with the defaults), so every hash and verification runs in a thread
pool; argon2-cffi releases the GIL while it works, so the reactor keeps
serving meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

import argon2
from argon2.exceptions import VerifyMismatchError

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads
from twisted.internet.threads import deferToThreadPool

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted.python.threadpool import ThreadPool

_P = ParamSpec("_P")
_T = TypeVar("_T")


class PasswordHasher:
    """
    Hash and verify passwords with Argon2id in a thread pool.

    The costs default to argon2-cffi's (RFC 9106's second recommended
    profile); tests pass tiny ones.  A stored hash records the costs it was
    made with, so changing them only affects new hashes, and
    L{needs_rehash} says when a login should replace an old one.
    """

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
        reactor: IReactorFromThreads | None = None,
        threadpool: ThreadPool | None = None,
    ) -> None:
        """
        @param memory_cost: in KiB.
        @param reactor: delivers the results; the global reactor by default.
        @param threadpool: where hashing runs; the reactor's by default.
            Each hash in progress holds C{memory_cost} KiB, so the pool's
            size bounds the memory used.
        """
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._reactor = reactor
        self._threadpool = threadpool

    def hash(self, password: str) -> Deferred[str]:
        """
        Hash C{password} with a new random salt.

        @return: the encoded hash (C{$argon2id$...}), costs and salt included.
        """
        return self._in_thread(self._hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> Deferred[bool]:
        """
        Whether C{password} is the one C{password_hash} was made from.

        @raise argon2.exceptions.InvalidHashError: if C{password_hash} is not
            an Argon2 hash (a corrupt record, not a wrong password).
        """
        return self._in_thread(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """
        Whether C{password_hash} was made with other costs than this
        hasher's; cheap, so it runs here.
        """
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerifyMismatchError:
            return False

    def _in_thread(
        self, f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]:
        reactor, threadpool = self._reactor, self._threadpool
        if reactor is None or threadpool is None:
            from twisted.internet import reactor as global_reactor

            if reactor is None:
                reactor = cast(IReactorFromThreads, global_reactor)
            if threadpool is None:
                threadpool = cast(IReactorThreads, global_reactor).getThreadPool()
        return deferToThreadPool(reactor, threadpool, f, *args, **kwargs)
