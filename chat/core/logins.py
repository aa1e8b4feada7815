# -*- test-case-name: tests.core.test_logins -*-
"""
Coming and going: choosing a name, logging in to a registered one, being
caught up (history, stored messages, rooms, files) before any live
traffic, and leaving.

The login is a state the core tracks on each L{Client}
(L{chat.core.client.State}), the same for every door: a door only says
what the client gave, a name or a password.

What a client sends ahead is never taken for something it did not mean:
a registered name is always answered with the password prompt, and what
comes next is its password (refused, if need be, only once it is read);
after any refused step (a name refused, a wrong or throttled password)
whatever the client had sent ahead is discarded
(L{chat.core.client.IConnection.discard_input}), so a password it
pipelined never becomes a name or a message.
"""

from __future__ import annotations

from typing import Final, TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.client import CLOSED, LOGGING_IN, NAMELESS, ONLINE, PASSWORD, Client
from chat.core.messages import Messages, replayed
from chat.core.names import fold
from chat.core.peers import Peers
from chat.core.rooms import Room, Rooms
from chat.core.transfers import Transfers
from chat.errors import (
    BadUsage,
    ChatError,
    NameInUse,
    ServerBusy,
    StoreFailed,
    Throttled,
    UnknownHistoryId,
    WrongPassword,
)
from chat.events import (
    Error,
    Event,
    Goodbye,
    Joined,
    Left,
    Prompt,
    UserList,
    Welcome,
)
from chat.store.interface import HistoryEntry

_log: Final = Logger(namespace="chat.core.logins")

#: Added to a refused login step's error when the client had sent more.
DISCARDED: Final = "What you sent after it was discarded."
_T = TypeVar("_T")


class Logins:
    """
    Who comes in under which name, and what happens when they leave.
    """

    def __init__(
        self,
        peers: Peers,
        accounts: Accounts,
        messages: Messages,
        rooms: Rooms,
        transfers: Transfers,
    ) -> None:
        self._clock = peers.clock
        self._store = peers.store
        self._presence = peers.presence
        self._fanout = peers.fanout
        self._delivery = peers.delivery
        self._limits = peers.limits
        self._log_limiter = peers.log_limiter
        self._admission = peers.admission
        self._accounts = accounts
        self._messages = messages
        self._rooms = rooms
        self._transfers = transfers

    def choose_name(self, client: Client, name: str) -> Deferred[None] | None:
        """
        Let C{client} in under C{name}, or ask for the name's password if it
        is registered: always, even if the name is online or throttled
        (L{log_in} says so once the password is read), so that what the
        client sends next is taken for the password it is.

        A blank C{name} (Enter at the prompt) is asked for again.  A name
        refused is answered with an L{Error}, and what the client sent
        ahead is discarded.

        @raise chat.errors.BadUsage: if the client is online already.
        """
        if client.state is ONLINE:
            raise BadUsage(f"you are in already, as {client.name}.")
        client.state, client.asked = NAMELESS, None
        if not name or name.isspace():
            self._delivery.send(client, Prompt(self._clock.seconds(), "name"))
            return None
        try:
            key = self._presence.check(name)
        except NameInUse as e:
            # Someone online holds it: a registered name is asked for its
            # password all the same.
            registered = self._accounts.names.get(fold(name))
            if registered is None:
                self._refuse_name(client, name, e)
                return None
        except ChatError as e:
            self._refuse_name(client, name, e)
            return None
        else:
            registered = self._accounts.names.get(key)
            if registered is None:
                # A guest's name may not look like a registered one.
                try:
                    self._accounts.check_lookalike(name, key)
                except ChatError as e:
                    self._refuse_name(client, name, e)
                    return None
                return self._admit(client, name, registered=False)
        client.state, client.asked = PASSWORD, registered
        self._ask_password(client, registered)
        return None

    def ask_again(self, client: Client) -> None:
        """
        Send C{client} the prompt for what it is asked now: the password
        of the name it asked for, or a name (a door that switched its
        format, or showed help at the prompt, says what comes next).
        """
        if client.state is PASSWORD and client.asked is not None:
            self._ask_password(client, client.asked)
        elif client.state is NAMELESS:
            self._delivery.send(client, Prompt(self._clock.seconds(), "name"))

    def _ask_password(self, client: Client, name: str) -> None:
        self._delivery.send(
            client,
            Prompt(
                self._clock.seconds(),
                "password",
                name=name,
                insecure=not client.secure,
            ),
        )

    def _refuse_name(self, client: Client, name: str, error: ChatError) -> None:
        self._log_limiter.info(
            _log,
            "refused the name {name} from {peer}: {reason}",
            name=name,
            peer=client.peer,
            reason=str(error),
        )
        self._refuse_step(client, error)

    def _refuse_step(self, client: Client, error: ChatError) -> None:
        """
        Tell C{client} a step of its login was refused, after discarding
        what it sent ahead (saying so, if there was anything).
        """
        event = Error.refusing(self._clock.seconds(), error)
        if client.discard_input():
            event.text += " " + DISCARDED
        self._delivery.send(client, event)

    def log_in(self, client: Client, password: str) -> Deferred[None] | None:
        """
        C{password} for the registered name C{client} asked for.

        A blank one (Enter at the prompt) is asked for again, and counts
        for nothing.  Any other is checked, unless the name is online
        (L{NameInUse}) or throttled (L{chat.errors.Throttled}): then it is
        refused unchecked.  After a refusal the client is asked for a
        name, and what it sent ahead is discarded.
        """
        name = client.asked
        if client.state is not PASSWORD or name is None:
            raise BadUsage("no password was asked for; enter your name first.")
        if not password or password.isspace():
            self._ask_password(client, name)
            return None
        client.state, client.asked = LOGGING_IN, None
        return Deferred.fromCoroutine(self._log_in(client, name, password))

    async def _log_in(self, client: Client, name: str, password: str) -> None:
        key = fold(name)
        try:
            if self._presence.find(key) is not None:
                # (Unchecked: that the name is online, /users says anyway.)
                raise NameInUse(
                    f"the name {name} is already taken; please choose another."
                )
            account = await self._accounts.verify(
                client,
                key,
                password,
                f"wrong password for {name}; enter a name again.",
                name=name,
                login=True,
            )
            if client.state is not LOGGING_IN:
                return  # gone meanwhile
            await self._admitted(
                client,
                name if account is None else account.name,
                registered=account is not None,
            )
        except ChatError as e:
            if client.state is not LOGGING_IN:
                return
            client.state = NAMELESS
            if not isinstance(e, (WrongPassword, Throttled, ServerBusy)):
                # (Those are security events: the accounts logged them.)
                self._log_limiter.info(
                    _log,
                    "refused a login as {name} from {peer}: {reason}",
                    name=name,
                    peer=client.peer,
                    reason=str(e),
                )
            # Back to the start: the next thing the client gives is a name.
            self._refuse_step(client, e)
            self._delivery.send(client, Prompt(self._clock.seconds(), "name"))
        except Exception:
            # Not the client's doing (the store, a corrupt hash): the
            # session reports an internal error, which says to try again,
            # so the next thing the client gives is its password again,
            # never a name (a door would take the password for one); what
            # it sent ahead is discarded, as after any refusal.
            if client.state is LOGGING_IN:
                client.state, client.asked = PASSWORD, name
                client.discard_input()
            raise

    async def _admitted(self, client: Client, name: str, *, registered: bool) -> None:
        wait = self._admit(client, name, registered=registered)
        if wait is not None:
            await wait

    def _admit(
        self, client: Client, name: str, *, registered: bool
    ) -> Deferred[None] | None:
        """
        Put C{client} online as C{name}, then hand it what it missed before
        any live traffic.
        """
        presence = self._presence
        presence.claim(name, client)
        name = str(client.name)  # as shown (chat.core.names.check_name)
        client.state = ONLINE
        self._admission.named(client)
        self._log_limiter.info(_log, "{name} just joined the chat", name=name)
        now = self._clock.seconds()
        count = len(presence)
        shown = presence.names() if count <= self._limits.welcome_list else []
        welcome = Welcome(now, name, tuple(shown), count, self._store.last_history_id)
        if count <= self._limits.announce:
            self._fanout.to_everyone(Joined(now, name), client)
        replay = self._limits.history_on_join if self._messages.keep_history else 0
        if not registered and not replay:
            self._delivery.send(client, welcome)
            return None
        self._delivery.hold(client)
        rooms = self._rooms.logged_in(client) if registered else []
        history = self._messages.recent(replay, client.since) if replay else None
        if not registered and history is not None:
            ready = _result_now(history)
            if ready and not isinstance(ready[0], Failure):
                # A guest, and the store had the history at hand (as it
                # does for the usual few lines): no turn to wait for.
                self._delivery.release(client, [welcome, *self._replay(ready[0])])
                return None
        return Deferred.fromCoroutine(
            self._catch_up(client, welcome, registered, history, rooms)
        )

    def _replay(self, entries: list[HistoryEntry]) -> list[Event]:
        return replayed(entries, self._clock.seconds()) if entries else []

    async def _catch_up(
        self,
        client: Client,
        welcome: Welcome,
        registered: bool,
        history: Deferred[list[HistoryEntry]] | None,
        rooms: list[Room],
    ) -> None:
        events: list[Event] = [welcome]
        ids: list[int] = []
        key = str(client.key)
        try:
            if history is not None:
                events += self._replay(await history)
            if registered:
                kept, ids = await self._messages.kept_for(key, welcome.name)
                events += kept
                events += await self._rooms.missed(key, rooms, welcome.time)
                events += await self._transfers.offers_for(key)
        except Exception:
            _log.failure("catching {name} up failed", name=welcome.name)
            events.append(
                Error.refusing(
                    self._clock.seconds(),
                    StoreFailed(
                        "history and stored messages could not be read; stored "
                        "messages are kept for your next login."
                    ),
                )
            )
        self._delivery.release(client, events)
        if ids and not client.acknowledges and client.state is ONLINE:
            self._messages.expect_confirmation(client, ids)

    # Resume (issue 16).

    def resume_after(self, client: Client, since: int) -> None:
        """
        C{client} has the main channel's history up to id C{since}: the
        replay at its login holds only what came after (IRCv3
        C{chathistory AFTER}).

        @raise BadUsage: if it is online already.
        @raise UnknownHistoryId: if C{since} is not an id given yet (ids
            never go back, so it is not one of this server's).
        """
        if client.state is ONLINE:
            raise BadUsage("/since is said before your name.")
        last = self._store.last_history_id
        if not 0 <= since <= last:
            raise UnknownHistoryId(
                f"there is no history id {since} here (the newest is {last}); "
                "the usual history is shown."
            )
        client.since = since

    def users(self, client: Client) -> None:
        """
        Who is online, to C{client} only.
        """
        self._delivery.send(
            client, UserList(self._clock.seconds(), tuple(self._presence.names()))
        )

    def quit(self, client: Client, reason: str | None) -> None:
        """
        C{client} says goodbye: it is told so, it leaves, and its
        connection closes after what it was sent.
        """
        self._delivery.send(client, Goodbye(self._clock.seconds(), reason))
        self.leave(client, reason or "quit", delivered=True)
        client.connection.close()

    def leave(self, client: Client, reason: str | None, *, delivered: bool) -> None:
        """
        C{client} is gone: free its name and tell the others.

        @param delivered: what was sent to it arrived (its connection
            closed cleanly), so stored messages it was sent count as
            delivered.
        """
        state, client.state, client.asked = client.state, CLOSED, None
        if client.unconfirmed is not None:
            if delivered:
                self._messages.confirm(client)
            else:
                self._messages.not_delivered(client)
        if state is not ONLINE or not self._presence.release(client):
            return
        self._rooms.gone(client, reason)
        self._transfers.gone(client)
        self._log_limiter.info(
            _log, "{name} left the chat ({reason})", name=client.name, reason=reason
        )
        if len(self._presence) < self._limits.announce:
            self._fanout.to_everyone(
                Left(self._clock.seconds(), str(client.name), reason), client
            )


def _result_now(d: Deferred[_T]) -> list[_T | Failure]:
    """
    C{[result]} if C{d} has fired already, else C{[]}; C{d} keeps its
    result either way, for whoever waits on it next.
    """
    box: list[_T | Failure] = []

    def keep(result: _T | Failure) -> _T | Failure:
        box.append(result)
        return result

    d.addBoth(keep)
    return box
