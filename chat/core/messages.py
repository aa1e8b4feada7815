# -*- test-case-name: tests.core.test_messages -*-
"""
Messages to everyone and to one person: broadcasts kept as history,
private messages kept for registered users who are offline, and when a
kept message counts as delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from chat.core.accounts import Accounts
from chat.core.client import Client
from chat.core.limits import ID_MAX
from chat.core.names import fold
from chat.core.peers import Peers
from chat.errors import BadUsage, NoSuchUser
from chat.events import (
    Action,
    Event,
    Message,
    Past,
    PastEnd,
    Private,
    Queued,
    Stored,
    StoredEnd,
)
from chat.store.interface import HistoryEntry, StoredMessage

_log: Final = Logger(namespace="chat.core.messages")


def replayed(
    entries: Sequence[HistoryEntry], now: float, room: str = "", missed: bool = False
) -> list[Event]:
    """
    History C{entries} of C{room} (its name as shown) as a replay: a L{Past}
    each, then the L{PastEnd} that closes it.
    """
    events: list[Event] = [
        Past(e.time, e.sender, e.text, e.kind == "action", room, missed)
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

    # Broadcasts.

    def say(self, client: Client, text: str) -> None:
        """
        A message to everyone.
        """
        if not text or len(text) > self._limits.text_max:
            check_text(text, self._limits.text_max)
        now = self._clock.seconds()
        sender = str(client.name)
        self._fanout.to_everyone(Message(now, sender, text), client)
        if self.keep_history:
            self._store.add_history(HistoryEntry(0, "", sender, text, now))

    def action(self, client: Client, text: str) -> None:
        """
        C{/me}: an action, shown to everyone.
        """
        if not text.strip():
            raise BadUsage("an action cannot be empty.")
        check_text(text, self._limits.text_max)
        now = self._clock.seconds()
        sender = str(client.name)
        self._fanout.to_everyone(Action(now, sender, text), client)
        if self.keep_history:
            self._store.add_history(HistoryEntry(0, "", sender, text, now, "action"))

    def history(self, client: Client, count: int) -> Deferred[None]:
        """
        The main channel's last C{count} broadcasts, oldest first.
        """

        def show(entries: list[HistoryEntry]) -> None:
            for event in replayed(entries, self._clock.seconds()):
                self._delivery.send(client, event)

        return self.recent(count).addCallback(show)

    def recent(self, count: int) -> Deferred[list[HistoryEntry]]:
        """
        The main channel's last C{count} broadcasts (none if no history is
        kept).
        """
        if not self.keep_history or count <= 0:
            return succeed([])
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
        self._delivery.send(
            recipient,
            Private(self._clock.seconds(), str(client.name), str(recipient.name), text),
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
