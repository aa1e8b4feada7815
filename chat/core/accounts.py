# -*- test-case-name: tests.core.test_accounts -*-
"""
Registered names: which names are registered, checking their passwords
(throttled), and registering, changing and giving them up.

A password check counts against its name and its address when it
starts, and stops counting only if the password was right: however many
clients guess at once, no more checks are made than the limits allow.
Each name and each address has at most one check under way at a time;
another is refused at once, as throttled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.client import Client
from chat.core.limits import Throttle
from chat.core.names import Lookalikes, check_name, fold
from chat.core.passwords import ACCOUNT, LOGIN, RETRY, TRUSTED, HashQueue
from chat.core.peers import Peers
from chat.errors import (
    BadUsage,
    LookalikeName,
    NoSuchAccount,
    ServerBusy,
    Throttled,
    WrongPassword,
)
from chat.events import AccountChanged
from chat.store.interface import Account

_log: Final = Logger(namespace="chat.core.accounts")

#: Addresses kept per account whose logins go first in the hashing queue.
TRUSTED_ADDRESSES: Final = 4


@dataclass(slots=True)
class _Check:
    """
    A password check under way: what it counts against, and since when.
    """

    key: str
    peer: str
    #: The address is limited (not exempt).
    limited: bool
    name_at: float
    peer_at: float
    #: Its place in the hashing queue (L{chat.core.passwords}).
    kind: int


class Accounts:
    """
    The registered names, and their passwords' checks.

    @ivar names: every registered name, folded to as registered: routing
        decisions on the hot path must not wait for the store.
    @ivar lookalikes: the skeletons of the registered names, in step with
        C{names}.
    @ivar on_unregistered: called with the client and its key once a name
        was given up (rooms forget its memberships).
    """

    def __init__(self, peers: Peers, hasher: HashQueue) -> None:
        self._clock = clock = peers.clock
        self._store = peers.store
        self._hasher = hasher
        self._delivery = peers.delivery
        self._security = peers.auth_log
        self._limits = limits = peers.limits
        # The names and addresses with a password check under way.
        self._checking_names: set[str] = set()
        self._checking_peers: set[str] = set()
        # The addresses each account logged in from lately, newest last.
        self._trusted: dict[str, deque[str]] = {}
        self.names: dict[str, str] = {}
        self.lookalikes = Lookalikes()
        self.on_unregistered: list[Callable[[Client, str], object]] = []
        self._name_tries = Throttle(clock, limits.tries_per_name, limits.tries_window)
        self._address_tries = Throttle(
            clock, limits.tries_per_address, limits.tries_window
        )

    def load(self) -> Deferred[None]:
        """
        Read the registered names from the store; call before serving.
        """

        def loaded(names: dict[str, str]) -> None:
            self.names = {}
            self.lookalikes = Lookalikes()
            for key, name in names.items():
                if fold(name) != key:
                    # Set aside by the store's upgrade to today's name rules
                    # (docs/security.rst, "Names and rooms"): nobody can log
                    # in to it.
                    _log.warn(
                        "the account {key!r} ({name!r}) does not follow the name "
                        "rules; nobody can log in to it",
                        key=key,
                        name=name,
                    )
                    continue
                self.names[key] = name
                self.lookalikes.add(key, name)

        return self._store.account_names().addCallback(loaded)

    def registered(self, key: str) -> str | None:
        """
        The registered name whose key is C{key}, as registered.
        """
        return self.names.get(key)

    def check_lookalike(self, name: str, key: str) -> None:
        """
        @raise LookalikeName: if C{name} (whose key is C{key}) looks like
            another registered name.
        """
        other = self.lookalikes.find(check_name(name), key)
        if other is not None:
            raise LookalikeName(name, other, "registered")

    def _forget(self, key: str) -> None:
        self.names.pop(key, None)
        self.lookalikes.discard(key)
        self._trusted.pop(key, None)

    def _begin(self, client: Client, key: str, name: str) -> _Check:
        """
        Count a password check for C{key} from C{client} as it starts.

        A client of an exempt network is not limited by its address; its
        wrong passwords are still recorded, for the order of the hashing
        queue.

        @raise Throttled: if a check for C{key} or from its address is
            under way, or too many wrong passwords came before.
        """
        peer, limited = client.peer, not client.exempt
        if key in self._checking_names or (limited and peer in self._checking_peers):
            self._security.info(
                _log,
                "refused a password for {name} from {peer}: another check "
                "for the name or the address is under way",
                name=name,
                peer=peer,
            )
            raise Throttled(
                "a password for that name or from your address is being "
                "checked already; try again in a few seconds."
            )
        wait = self._name_tries.wait(key)
        if limited:
            wait = max(wait, self._address_tries.wait(peer))
        if wait:
            self._security.info(
                _log,
                "throttled a password for {name} from {peer} ({wait:.0f} s left)",
                name=name,
                peer=peer,
                wait=wait,
            )
            raise Throttled(
                f"too many wrong passwords; try again in {int(wait) + 1} seconds."
            )
        # A login from where the account logged in lately goes first; one
        # waits behind others' only once its address guessed wrong (its
        # name's failures may be someone else's).
        if peer in self._trusted.get(key, ()):
            kind = TRUSTED
        else:
            kind = RETRY if self._address_tries.count(peer) else LOGIN
        self._checking_names.add(key)
        if limited:
            self._checking_peers.add(peer)
        return _Check(
            key,
            peer,
            limited,
            self._name_tries.failed(key),
            self._address_tries.failed(peer),
            kind,
        )

    def _end(self, check: _Check, *, wrong: bool) -> None:
        """
        The check is over: unless the password was wrong, it no longer
        counts.
        """
        self._checking_names.discard(check.key)
        if check.limited:
            self._checking_peers.discard(check.peer)
        if not wrong:
            self._name_tries.forget(check.key, check.name_at)
            self._address_tries.forget(check.peer, check.peer_at)

    async def verify(
        self,
        client: Client,
        key: str,
        password: str,
        wrong: str,
        *,
        name: str | None = None,
        login: bool = False,
    ) -> Account | None:
        """
        C{key}'s account if C{password} is its password; L{None} if the name
        is not registered (any more).  The check counts against the name
        and C{client}'s address from its start; a wrong password keeps
        counting (L{Limits.tries_per_name}, L{Limits.tries_per_address}
        in L{Limits.tries_window}).

        @param name: the name as the client gave it, for the log.
        @param login: a login: its check goes before account requests', a
            right password forgives the name its wrong ones, and a hash
            made with older costs is replaced.
        @raise WrongPassword: with the message C{wrong}.
        @raise Throttled: if a check for the name or from the address is
            under way, or too many wrong passwords came before.
        @raise ServerBusy: if too many checks wait for the hashing threads.
        """
        shown = key if name is None else name
        check = self._begin(client, key, shown)
        wrong_password = False
        try:
            account = await self._store.get_account(key)
            if account is None:
                self._forget(key)
                return None
            try:
                right = await self._hasher.verify(
                    account.password_hash,
                    password,
                    kind=check.kind if login else ACCOUNT,
                )
            except ServerBusy:
                self._busy(client, f"a password for {shown}")
                raise
            if not right:
                wrong_password = True
                self._security.info(
                    _log,
                    "wrong password for {name} from {peer}",
                    name=shown,
                    peer=client.peer,
                )
                raise WrongPassword(wrong)
        finally:
            self._end(check, wrong=wrong_password)
        if login:
            self._name_tries.succeeded(key)
            self._trust(key, client.peer)
            if self._hasher.needs_rehash(account.password_hash):
                self._rehash(key, password)
        return account

    def _trust(self, key: str, peer: str) -> None:
        """
        C{key} logged in from C{peer}: its next logins from there go first
        in the hashing queue (the last L{TRUSTED_ADDRESSES} addresses of
        each account are kept).
        """
        peers = self._trusted.setdefault(key, deque(maxlen=TRUSTED_ADDRESSES))
        if peer in peers:
            peers.remove(peer)
        peers.append(peer)

    def _busy(self, client: Client, what: str) -> None:
        self._security.info(
            _log,
            "refused {what} from {peer}: the hashing queue is full",
            what=what,
            peer=client.peer,
        )

    def _rehash(self, key: str, password: str) -> None:
        def failed(f: Failure) -> None:
            if f.check(ServerBusy) is None:  # busy: the next login does it
                _log.failure("rehashing a password failed", f)

        d = self._hasher.hash(password)
        d.addCallback(lambda new: self._store.set_password_hash(key, new))
        d.addErrback(failed)

    async def _hash(self, client: Client, password: str, what: str) -> str:
        try:
            return await self._hasher.hash(password)
        except ServerBusy:
            self._busy(client, what)
            raise

    def _check_new_password(self, password: str) -> None:
        limits = self._limits
        if (
            not limits.password_min <= len(password) <= limits.password_max
            or not password.isprintable()
            or any(c.isspace() for c in password)
        ):
            raise BadUsage(
                f"a password is {limits.password_min} to {limits.password_max} "
                "characters without spaces."
            )

    def _account_of(self, client: Client) -> tuple[str, str]:
        name, key = str(client.name), str(client.key)
        if key not in self.names:
            raise NoSuchAccount(name)
        return name, key

    def _changed(self, client: Client, action: str, name: str) -> None:
        self._delivery.send(
            client,
            AccountChanged(
                self._clock.seconds(), action, name, insecure=not client.secure
            ),
        )

    def register(self, client: Client, password: str) -> Deferred[None]:
        """
        Reserve C{client}'s name with C{password}.
        """
        self._check_new_password(password)
        name, key = str(client.name), str(client.key)
        if key in self.names:
            raise BadUsage(
                f"{name} is already registered; /password OLD NEW changes it."
            )
        self.check_lookalike(name, key)
        return Deferred.fromCoroutine(self._register(client, name, key, password))

    async def _register(
        self, client: Client, name: str, key: str, password: str
    ) -> None:
        hashed = await self._hash(client, password, f"registering {name}")
        await self._store.create_account(
            Account(key, name, hashed, self._clock.seconds())
        )
        self.names[key] = name
        self.lookalikes.add(key, name)
        self._changed(client, "registered", name)

    def change_password(self, client: Client, old: str, new: str) -> Deferred[None]:
        """
        Replace the password of C{client}'s name.
        """
        name, key = self._account_of(client)
        self._check_new_password(new)
        return Deferred.fromCoroutine(self._change(client, name, key, old, new))

    async def _change(
        self, client: Client, name: str, key: str, old: str, new: str
    ) -> None:
        await self._verify_own(client, key, old)
        hashed = await self._hash(client, new, f"a new password for {name}")
        await self._store.set_password_hash(key, hashed)
        self._changed(client, "password-changed", name)

    def unregister(self, client: Client, password: str) -> Deferred[None]:
        """
        Give C{client}'s name up.
        """
        name, key = self._account_of(client)
        return Deferred.fromCoroutine(self._unregister(client, name, key, password))

    async def _unregister(
        self, client: Client, name: str, key: str, password: str
    ) -> None:
        await self._verify_own(client, key, password)
        await self._store.delete_account(key)
        self._forget(key)
        for hook in self.on_unregistered:
            hook(client, key)
        self._changed(client, "unregistered", name)

    async def _verify_own(self, client: Client, key: str, password: str) -> None:
        wrong = "wrong password; nothing was changed."
        name = str(client.name)
        if await self.verify(client, key, password, wrong, name=name) is None:
            raise NoSuchAccount(str(client.name))
