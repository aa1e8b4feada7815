# -*- test-case-name: tests.core.test_messages -*-
"""
Messages to everyone and to one person: broadcasts kept as history,
private messages kept for registered users who are offline, and when a
kept message counts as delivered; the private history of registered
users' conversations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.client import Client
from chat.core.limits import ID_MAX
from chat.core.names import fold, is_name
from chat.core.peers import Peers
from chat.errors import BadUsage, NoPrivateHistory, NoSuchUser
from chat.events import (
    Action,
    Away,
    AwayStatus,
    Delivered,
    Event,
    Message,
    Past,
    PastEnd,
    PrivacyStatus,
    Private,
    PrivatePast,
    PrivatePastEnd,
    Queued,
    Stored,
    StoredEnd,
)
from chat.store.interface import HistoryEntry, PrivateEntry, StoredMessage

_log: Final = Logger(namespace="chat.core.messages")


def replayed(
    entries: Sequence[HistoryEntry], now: float, room: str = "", missed: bool = False
) -> list[Event]:
    """
    History C{entries} of C{room} (its name as shown) as a replay: a L{Past}
    each, then the L{PastEnd} that closes it.
    """
    events: list[Event] = [
        Past(e.time, e.sender, e.text, e.kind == "action", room, missed, e.id)
        for e in entries
    ]
    events.append(PastEnd(now, len(entries), room, missed))
    return events


def check_text(text: str, text_max: int) -> None:
    """
    What every message and action must be, whatever door it came through.

    @raise BadUsage: if C{text} is empty or longer than C{text_max}.
    """
    if not text:
        raise BadUsage("an empty message cannot be sent.")
    if len(text) > text_max:
        raise BadUsage(f"a message is at most {text_max:,} characters.")


def _stored(message: StoredMessage, recipient: str) -> Stored:
    return Stored(
        message.time,
        message.sender,
        recipient,
        message.text,
        message.id,
        message.kind == "action",
    )


class Messages:
    """
    Broadcasts, private messages, offline delivery and the main channel's
    history.

    @ivar keep_history: broadcasts are kept as history.
    """

    def __init__(self, peers: Peers, accounts: Accounts) -> None:
        self._clock = peers.clock
        self._store = peers.store
        self._presence = peers.presence
        self._fanout = peers.fanout
        self._delivery = peers.delivery
        self._limits = peers.limits
        self.keep_history = peers.keep_history
        self._accounts = accounts
        # Private history (issue 16): the keys of the accounts whose
        # private messages are not kept (read at start, then kept up to
        # date here: checked for every private message).
        self._private_off: set[str] = set()
        accounts.on_unregistered.append(self._unregistered)

    # Broadcasts.

    def say(self, client: Client, text: str) -> None:
        """
        A message to everyone.
        """
        if not text or len(text) > self._limits.text_max:
            check_text(text, self._limits.text_max)
        now = self._clock.seconds()
        sender = str(client.name)
        if self.keep_history:
            # Stored first: the store gives the id the message carries.
            entry = HistoryEntry(0, "", sender, text, now)
            self._store.add_history(entry)
            self._fanout.to_everyone(Message(now, sender, text, entry.id), client)
        else:
            self._fanout.to_everyone(Message(now, sender, text), client)

    def action(self, client: Client, text: str) -> None:
        """
        C{/me}: an action, shown to everyone.
        """
        if not text.strip():
            raise BadUsage("an action cannot be empty.")
        check_text(text, self._limits.text_max)
        now = self._clock.seconds()
        sender = str(client.name)
        if self.keep_history:
            entry = HistoryEntry(0, "", sender, text, now, "action")
            self._store.add_history(entry)
            self._fanout.to_everyone(Action(now, sender, text, entry.id), client)
        else:
            self._fanout.to_everyone(Action(now, sender, text), client)

    def history(self, client: Client, count: int) -> Deferred[None]:
        """
        The main channel's last C{count} broadcasts, oldest first.
        """

        def show(entries: list[HistoryEntry]) -> None:
            for event in replayed(entries, self._clock.seconds()):
                self._delivery.send(client, event)

        return self.recent(count).addCallback(show)

    def recent(
        self, count: int, after: int | None = None
    ) -> Deferred[list[HistoryEntry]]:
        """
        The main channel's last C{count} broadcasts (none if no history is
        kept), only those with an id above C{after} if it is given.
        """
        if not self.keep_history or count <= 0:
            return succeed([])
        if after is not None:
            return self._store.history_after("", after, count)
        return self._store.history("", count)

    # Private messages.

    def whisper(self, client: Client, target: str, text: str) -> Deferred[None] | None:
        """
        A private message to C{target}, kept for later if C{target} is a
        registered name that is offline.
        """
        check_text(text, self._limits.text_max)
        try:
            recipient = self._presence.lookup(target)
        except NoSuchUser:
            key = fold(target)
            registered = self._accounts.registered(key)
            if registered is None:
                raise
            return self._keep(client, key, registered, text)
        now = self._clock.seconds()
        self._delivery.send(
            recipient, Private(now, str(client.name), str(recipient.name), text)
        )
        if client.acknowledges:
            self._delivery.send(client, Delivered(now, str(recipient.name)))
        if recipient.away_reason is not None and recipient is not client:
            self._tell_away(client, recipient, now)
        if recipient.key is not None and self._keeps_private(client, recipient.key):
            self._store.add_private(
                PrivateEntry(
                    0,
                    str(client.key),
                    recipient.key,
                    str(client.name),
                    str(recipient.name),
                    text,
                    now,
                )
            )
        return None

    def _keep(
        self, client: Client, key: str, recipient: str, text: str
    ) -> Deferred[None]:
        """
        Store a private message for an offline registered user; the sender
        is told only once it is safely on disk.
        """
        limits = self._limits
        message = StoredMessage(0, key, str(client.name), text, self._clock.seconds())
        d = self._store.enqueue(
            message, max_count=limits.offline_count, max_age=limits.offline_age
        )

        def stored(message: StoredMessage) -> None:
            if self._keeps_private(client, key):
                self._store.add_private(
                    PrivateEntry(
                        0,
                        str(client.key),
                        key,
                        str(client.name),
                        recipient,
                        text,
                        message.time,
                    )
                )
            self._delivery.send(
                client, Queued(self._clock.seconds(), recipient, message.id)
            )

        return d.addCallback(stored)

    async def kept_for(self, key: str, name: str) -> tuple[list[Event], list[int]]:
        """
        What was kept for the registered user C{key} (online as C{name}):
        the stored messages and the end line, and their ids.
        """
        messages = await self._store.pending(
            key, self._clock.seconds(), self._limits.offline_age
        )
        events: list[Event] = [_stored(message, name) for message in messages]
        events.append(StoredEnd(self._clock.seconds(), len(messages)))
        return events, [message.id for message in messages]

    def acknowledge(self, client: Client, ids: Sequence[int]) -> Deferred[None]:
        """
        C{client} has the stored messages with these ids: delete them.
        """
        if not ids or min(ids) < 1 or max(ids) > ID_MAX:
            raise BadUsage("stored messages are acknowledged by their ids (1 or more).")
        return self._store.ack(str(client.key), ids).addCallback(lambda _: None)

    # Counting stored messages as delivered, for clients that do not
    # acknowledge them.

    def expect_confirmation(self, client: Client, ids: list[int]) -> None:
        """
        C{client} was sent the stored messages C{ids}: they count as
        delivered once it stays open L{Limits.confirm_after} seconds, sends
        a request, or closes cleanly.
        """
        call = self._clock.callLater(self._limits.confirm_after, self.confirm, client)
        client.unconfirmed = (ids, call)

    def confirm(self, client: Client) -> None:
        """
        What C{client} was sent arrived.
        """
        entry, client.unconfirmed = client.unconfirmed, None
        if entry is None or client.key is None:
            return
        ids, call = entry
        if call.active():
            call.cancel()
        d = self._store.ack(client.key, ids)
        d.addErrback(lambda f: _log.failure("acknowledging stored messages failed", f))

    def not_delivered(self, client: Client) -> None:
        """
        C{client}'s connection dropped: what it was sent may not have
        arrived, so it is sent again at the next login.
        """
        entry, client.unconfirmed = client.unconfirmed, None
        if entry is not None:
            entry[1].cancel()

    def expire(self) -> Deferred[None]:
        """
        Delete stored messages past L{Limits.offline_age}; run now and then,
        since a recipient who never logs in again would keep them forever.
        """

        def done(count: int) -> None:
            if count:
                _log.info("{count} expired stored messages deleted", count=count)

        return self._store.expire(
            self._clock.seconds(), self._limits.offline_age
        ).addCallback(done)

    # Private history (issue 16): the private messages between two
    # registered users are kept, as a room's history is, unless either
    # asked for them not to be (docs/security.rst, "What the server keeps").

    def load(self) -> Deferred[None]:
        """
        Read which accounts asked for their private messages not to be
        kept; call before serving.
        """

        def loaded(keys: set[str]) -> None:
            self._private_off = keys

        return self._store.private_opt_outs().addCallback(loaded)

    def _keeps_private(self, client: Client, recipient_key: str) -> bool:
        """
        Whether a private message from C{client} to the account
        C{recipient_key} is kept: both are registered now, and neither
        asked for it not to be.
        """
        key = client.key
        off = self._private_off
        registered = self._accounts.registered
        return (
            key is not None
            and key not in off
            and recipient_key not in off
            and registered(key) is not None
            and registered(recipient_key) is not None
        )

    def _own_key(self, client: Client) -> str:
        """
        C{client}'s account key.

        @raise NoPrivateHistory: if it is a guest.
        """
        key = client.key
        if key is None or self._accounts.registered(key) is None:
            raise NoPrivateHistory(
                "private conversations are kept only between registered users; "
                "/register PASSWORD to keep yours."
            )
        return key

    def private_history(self, client: Client, name: str, count: int) -> Deferred[None]:
        """
        The last C{count} private messages between C{client} and C{name},
        oldest first.

        @raise NoPrivateHistory: if either is not registered.
        """
        key = self._own_key(client)
        other_key = fold(name)
        other = self._accounts.registered(other_key)
        if other is None:
            if not is_name(name):
                raise NoPrivateHistory("there is no registered user of that name.")
            raise NoPrivateHistory(
                f"{name} is not registered: private conversations are kept only "
                "between registered users."
            )

        def show(entries: list[PrivateEntry]) -> None:
            for e in entries:
                self._delivery.send(
                    client, PrivatePast(e.time, e.sender, e.recipient, e.text, other)
                )
            self._delivery.send(
                client, PrivatePastEnd(self._clock.seconds(), len(entries), other)
            )

        d = self._store.private_history(key, other_key, count)
        return d.addCallback(show)

    def privacy(self, client: Client, history: bool | None) -> Deferred[None] | None:
        """
        C{/privacy}: whether C{client}'s private messages are kept, or
        (C{history} not L{None}) keep them from now on or not.  Not keeping
        them also deletes what was kept of its conversations.

        @raise NoPrivateHistory: if C{client} is a guest.
        """
        key = self._own_key(client)
        if history is None:
            kept = key not in self._private_off
            self._delivery.send(client, PrivacyStatus(self._clock.seconds(), kept))
            return None
        was_off = key in self._private_off
        if not history:
            # At once: no message of this turn or later is kept.
            self._private_off.add(key)

        def done(_: None) -> None:
            if history:
                self._private_off.discard(key)
            self._delivery.send(
                client, PrivacyStatus(self._clock.seconds(), history, changed=True)
            )

        def failed(failure: Failure) -> Failure:
            # Not recorded: as it was (the client is told of the failure).
            if not was_off:
                self._private_off.discard(key)
            return failure

        d = self._store.set_private_history(key, history)
        return d.addCallbacks(done, failed)

    def _unregistered(self, client: Client, key: str) -> None:
        """
        The account C{key} was deleted, with its private history: forget
        its choice, and delete what was added while it was being deleted.
        """
        self._private_off.discard(key)
        d = self._store.set_private_history(key, False)
        d.addErrback(lambda f: _log.failure("deleting private history failed", f))

    # Away (issue 16, "mentions").

    def away(self, client: Client, reason: str | None) -> None:
        """
        C{/away REASON}: C{client} is away, and whoever sends it a private
        message is told so, once each; C{/away} alone: it is back.  A
        reason is cut to L{Limits.away_max} characters.
        """
        reason = (reason or "").strip()[: self._limits.away_max].strip()
        if reason:
            check_text(reason, self._limits.text_max)
            client.away_reason = reason
            client.away_told = set()
        else:
            client.away_reason = None
            client.away_told = None
        self._delivery.send(
            client, AwayStatus(self._clock.seconds(), client.away_reason)
        )

    def _tell_away(self, client: Client, recipient: Client, now: float) -> None:
        told = recipient.away_told
        key = str(client.key)
        if told is None or recipient.away_reason is None or key in told:
            return
        told.add(key)
        self._delivery.send(
            client, Away(now, str(recipient.name), recipient.away_reason)
        )
