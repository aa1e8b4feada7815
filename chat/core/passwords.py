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


#: The text of the L{ServerBusy} a full queue answers with.
BUSY: Final = "the server is busy checking passwords; try again in a few seconds."

# The kinds of hashing work, in the order they are served.
#: A login to an account from an address it logged in from lately: its
#: owner, most likely, whatever guessers from new addresses send.
TRUSTED: Final = 0
#: A login from an address without recent wrong passwords.
LOGIN: Final = 1
#: A login from an address with some: most likely a guesser's next try.
RETRY: Final = 2
#: An account request (C{register}, C{change_password}, C{unregister}) or
#: a rehash.
ACCOUNT: Final = 3

_Work = tuple[Callable[[], "Deferred[Any]"], "Deferred[Any]"]


class HashQueue:
    """
    The hashing work waiting for the hasher's threads.

    At most C{workers} hashes are in the pool at once (so it never queues
    work of its own); the rest wait here, by kind, in queues of at most
    C{limit} each, served in order: logins to an account from an address
    it logged in from lately (L{TRUSTED}), logins from addresses without
    recent wrong passwords (L{LOGIN}), then logins from addresses with some
    (L{RETRY}), then account requests and rehashes (L{ACCOUNT}).  A user
    logging in from where it did before waits behind no guesser however
    many new addresses guess at once; a first login from a new address
    waits behind at most C{limit} others, whatever a guesser (a L{RETRY}
    after its first wrong guess) or a guest looping C{/register} sends.
    Work that finds its queue full fails at once with L{ServerBusy}: a
    clear refusal, never an unbounded wait.

    Work is never given up once queued (a client that left meanwhile
    still has its check done): each address and name has at most one
    check under way (L{chat.core.accounts.Accounts}), so this is bounded.
    """

    def __init__(self, hasher: PasswordHasher, *, workers: int, limit: int) -> None:
        self._hasher = hasher
        self._workers = max(1, workers)
        self._limit = limit
        self._running = 0
        self._queues: tuple[deque[_Work], ...] = (
            deque(),
            deque(),
            deque(),
            deque(),
        )

    @property
    def waiting(self) -> tuple[int, ...]:
        """
        How much work of each kind waits (L{TRUSTED}, L{LOGIN}, L{RETRY},
        L{ACCOUNT}).
        """
        return tuple(len(queue) for queue in self._queues)

    def hash(self, password: str, *, kind: int = ACCOUNT) -> Deferred[str]:
        """
        L{PasswordHasher.hash}, in its turn.

        @return: fails with L{ServerBusy} if too much of C{kind} waits.
        """
        return self._submit(lambda: self._hasher.hash(password), kind)

    def verify(
        self, password_hash: str, password: str, *, kind: int = ACCOUNT
    ) -> Deferred[bool]:
        """
        L{PasswordHasher.verify}, in its turn.

        @return: fails with L{ServerBusy} if too much of C{kind} waits.
        """
        return self._submit(lambda: self._hasher.verify(password_hash, password), kind)

    def needs_rehash(self, password_hash: str) -> bool:
        """
        L{PasswordHasher.needs_rehash}: cheap, so at once.
        """
        return self._hasher.needs_rehash(password_hash)

    def _submit(self, start: Callable[[], Deferred[_T]], kind: int) -> Deferred[_T]:
        if self._running < self._workers:
            return self._run(start)
        queue = self._queues[kind]
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
            for queue in self._queues:
                if queue:
                    start, d = queue.popleft()
                    self._run(start).chainDeferred(d)
                    break
            else:
                return
