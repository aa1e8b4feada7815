# -*- test-case-name: tests.core.test_passwords -*-
"""
Password hashing off the reactor thread, and the queue in front of it.

Argon2id is slow and memory-hard on purpose (tens of milliseconds and
64 MiB with the defaults), so every hash and verification runs in a thread
pool; argon2-cffi releases the GIL while it works, so the reactor keeps
serving meanwhile.  L{HashQueue} decides what runs next: logins first, a
bounded number waiting, the rest refused at once as busy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, cast

import argon2
from argon2.exceptions import VerifyMismatchError

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads
from twisted.internet.threads import deferToThreadPool

from chat.errors import ServerBusy

if TYPE_CHECKING:
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
        #: How many hashes L{HashQueue} hands the pool at once: its threads
        #: (2 for the global reactor's pool, which others share).
        self.workers: int = getattr(threadpool, "max", 2)

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


#: What L{HashQueue.busy} says.
BUSY: Final = "the server is busy checking passwords; try again in a few seconds."


class HashQueue:
    """
    The hashing work waiting for the hasher's threads.

    At most C{workers} hashes are in the pool at once (so it never queues
    work of its own); the rest wait here in two queues of at most C{limit}
    each: password checks of logins, which go first, and the hashes and
    checks of account requests (guests' C{/register}, C{/password},
    C{/unregister}).  Work that finds its queue full fails at once with
    L{ServerBusy}: a burst of guesses or registrations costs its senders a
    clear refusal, never everyone else an unbounded wait.

    Work is never given up once queued (a client that left meanwhile
    still has its check done): each address and name has at most one
    check waiting (L{chat.core.accounts.Accounts}), so this is bounded.
    """

    def __init__(self, hasher: PasswordHasher, *, workers: int, limit: int) -> None:
        self._hasher = hasher
        self._workers = max(1, workers)
        self._limit = limit
        self._running = 0
        self._logins: deque[tuple[Callable[[], Deferred[Any]], Deferred[Any]]] = deque()
        self._others: deque[tuple[Callable[[], Deferred[Any]], Deferred[Any]]] = deque()

    @property
    def waiting(self) -> tuple[int, int]:
        """
        How many logins and how many other requests wait.
        """
        return len(self._logins), len(self._others)

    def hash(self, password: str, *, login: bool = False) -> Deferred[str]:
        """
        L{PasswordHasher.hash}, in its turn.

        @param login: part of a login (a rehash is not: it waits with the
            account requests).
        """
        return self._submit(lambda: self._hasher.hash(password), login)

    def verify(
        self, password_hash: str, password: str, *, login: bool = False
    ) -> Deferred[bool]:
        """
        L{PasswordHasher.verify}, in its turn: logins go first.

        @return: fails with L{ServerBusy} if too many wait already.
        """
        return self._submit(lambda: self._hasher.verify(password_hash, password), login)

    def needs_rehash(self, password_hash: str) -> bool:
        """
        L{PasswordHasher.needs_rehash}: cheap, so at once.
        """
        return self._hasher.needs_rehash(password_hash)

    def _submit(self, start: Callable[[], Deferred[_T]], login: bool) -> Deferred[_T]:
        if self._running < self._workers:
            return self._run(start)
        queue = self._logins if login else self._others
        if len(queue) >= self._limit:
            return fail(ServerBusy(BUSY))
        d: Deferred[_T] = Deferred()
        queue.append((start, d))
        return d

    def _run(self, start: Callable[[], Deferred[_T]]) -> Deferred[_T]:
        self._running += 1
        try:
            d = start()
        except Exception:
            d = fail()
        return d.addBoth(self._done)

    def _done(self, result: _T) -> _T:
        self._running -= 1
        self._next()
        return result

    def _next(self) -> None:
        while self._running < self._workers:
            queue = self._logins or self._others
            if not queue:
                return
            start, d = queue.popleft()
            self._run(start).chainDeferred(d)
