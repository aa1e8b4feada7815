# -*- test-case-name: tests.core.test_accounts -*-
"""
Registered names: which names are registered, checking their passwords
(throttled), and registering, changing and giving them up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from chat.core.client import Client
from chat.core.limits import Throttle
from chat.core.names import Lookalikes, check_name, fold
from chat.core.passwords import PasswordHasher
from chat.core.peers import Peers
from chat.errors import (
    BadUsage,
    LookalikeName,
    NoSuchAccount,
    Throttled,
    WrongPassword,
)
from chat.events import AccountChanged
from chat.store.interface import Account

_log: Final = Logger(namespace="chat.core.accounts")


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

    def __init__(self, peers: Peers, hasher: PasswordHasher) -> None:
        self._clock = clock = peers.clock
        self._store = peers.store
        self._hasher = hasher
        self._delivery = peers.delivery
        self._limits = limits = peers.limits
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

    def check_tries(self, key: str, peer: str) -> None:
        """
        @raise Throttled: if C{key} or C{peer} had too many wrong passwords.
        """
        wait = max(self._name_tries.wait(key), self._address_tries.wait(peer))
        if wait:
            raise Throttled(
                f"too many wrong passwords; try again in {int(wait) + 1} seconds."
            )

    async def verify(
        self, peer: str, key: str, password: str, wrong: str, *, login: bool = False
    ) -> Account | None:
        """
        C{key}'s account if C{password} is its password; L{None} if the name
        is not registered (any more).  Wrong passwords count against the
        name and the address C{peer}.

        @param login: a login: a right password forgives the name its wrong
            ones, and a hash made with older costs is replaced.
        @raise WrongPassword: with the message C{wrong}.
        @raise Throttled: if too many wrong passwords came before.
        """
        self.check_tries(key, peer)
        account = await self._store.get_account(key)
        if account is None:
            self._forget(key)
            return None
        if not await self._hasher.verify(account.password_hash, password):
            self._name_tries.failed(key)
            self._address_tries.failed(peer)
            raise WrongPassword(wrong)
        if login:
            self._name_tries.succeeded(key)
            if self._hasher.needs_rehash(account.password_hash):
                self._rehash(key, password)
        return account

    def _rehash(self, key: str, password: str) -> None:
        d = self._hasher.hash(password)
        d.addCallback(lambda new: self._store.set_password_hash(key, new))
        d.addErrback(lambda f: _log.failure("rehashing a password failed", f))

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
        hashed = await self._hasher.hash(password)
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
        await self._store.set_password_hash(key, await self._hasher.hash(new))
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
        if await self.verify(client.peer, key, password, wrong) is None:
            raise NoSuchAccount(str(client.name))
