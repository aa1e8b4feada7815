"""
Test doubles for the chat core's seams.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from chat.errors import BadUsage
from chat.events import Event
from chat.registry import IChatClient
from chat.store import HistoryEntry, MemoryStore


@implementer(IChatClient)
class FakeClient:
    """
    An L{IChatClient} that records what the core tells it.
    """

    def __init__(self, peer: str = "192.0.2.1", secure: bool = False) -> None:
        self.name: str | None = None
        self.events: list[Event] = []
        self.mode = "text"
        self.disconnected = False
        self.peer = peer
        self.secure = secure
        self.held: list[Event] | None = None

    @property
    def acknowledges(self) -> bool:
        return self.mode == "json"

    @property
    def binary(self) -> bool:
        return self.mode == "json"

    def deliver(self, event: Event) -> None:
        if self.held is not None:
            self.held.append(event)
        else:
            self.events.append(event)

    def hold(self) -> None:
        self.held = []

    def release(self, first: Sequence[Event]) -> None:
        held, self.held = self.held or [], None
        self.events += [*first, *held]

    def set_mode(self, mode: str) -> None:
        if mode not in ("text", "json"):
            raise BadUsage(f"unknown mode {mode}")
        self.mode = mode

    def disconnect(self) -> None:
        self.disconnected = True

    def take(self) -> list[Event]:
        """
        The events delivered since the last call.
        """
        events, self.events = self.events, []
        return events


class FakeHasher:
    """
    A L{chat.passwords.PasswordHasher} without the hashing, answering at
    once: C{"hashed:" + password}.  C{needs_rehash} is true for hashes
    starting with C{"old:"}.
    """

    def hash(self, password: str) -> Deferred[str]:
        return succeed("hashed:" + password)

    def verify(self, password_hash: str, password: str) -> Deferred[bool]:
        return succeed(password_hash.split(":", 1)[1] == password)

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash.startswith("old:")


class SlowHistoryStore(MemoryStore):
    """
    A L{MemoryStore} whose C{history} answers, with what it held when
    asked, only when the test says (as SQLite's does for more than its
    in-memory tail); at once while C{holding} is false.
    """

    def __init__(self) -> None:
        super().__init__()
        self.holding = True
        self.waiting: list[tuple[Deferred[list[HistoryEntry]], list[HistoryEntry]]]
        self.waiting = []

    def history(self, room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        if not self.holding:
            return super().history(room, limit)
        entries: list[HistoryEntry] = []
        super().history(room, limit).addCallback(entries.extend)
        d: Deferred[list[HistoryEntry]] = Deferred()
        self.waiting.append((d, entries))
        return d

    def answer(self) -> None:
        d, entries = self.waiting.pop(0)
        d.callback(entries)

    def fail_next(self, error: Exception) -> None:
        d, _ = self.waiting.pop(0)
        d.errback(error)
