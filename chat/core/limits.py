# -*- test-case-name: tests.core.test_limits -*-
"""
The documented limits of the chat core, and L{Throttle}, which counts
failures per key in a sliding window to slow down password guessing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from twisted.internet.interfaces import IReactorTime

#: The largest id a stored message or file can have (SQLite's integers
#: are 64-bit): a client's larger number names nothing, and never reaches
#: the store.
ID_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """
    The limits every door's users get (C{docs/protocol.rst} documents each
    but C{writes_ahead}, the server's own pacing of uploads).

    @ivar announce: join and leave notices go to everyone only while at
        most this many users are online, so that a login costs O(1), not
        O(users), on a big server.
    @ivar room_announce: the same for a room's members.
    @ivar requests_per_turn: requests of one session carried out per turn
        of the reactor; the rest wait for the next turn, with the session's
        input paused, so that one client's burst cannot pile up output for
        everyone faster than it can be written.
    @ivar confirm_after: stored messages sent to a session that does not
        acknowledge them count as delivered after this long open.
    @ivar hold_max: events kept for one session while it is caught up at
        login; past it the connection is dropped.
    @ivar queued_max: requests that a session may have waiting behind one
        that waits (a door that keeps feeding a busy session is dropped).
    @ivar text_max: characters in a message or an action (longer ones are
        refused) and in a reason (longer ones are cut); the server makes it
        its longest line, so that the line door's lines are the only bound
        its users meet.

    Flood control (L{chat.core.flood}):

    @ivar flood_burst: requests a registered user logged in may make at
        once (the size of its token bucket).
    @ivar flood_rate: requests a second a registered user is held to once
        its burst is spent.
    @ivar guest_flood_burst: the same for every other client (guests, and
        clients not logged in yet).
    @ivar guest_flood_rate: the same for every other client.
    @ivar flood_backlog: seconds a client may be held back in a row (it
        keeps sending faster than its rate) before it is dropped.

    Connections (L{chat.core.admission}):

    @ivar connections_per_address: connections one address (an IPv6 /64)
        may have open at once, unless exempted (C{--exempt}), as Ergo's
        C{max-concurrent-connections}.
    @ivar connections_per_minute: connections one address may open in any
        minute, as Ergo's C{connection-throttling}.
    @ivar name_timeout: seconds a connection may stay without a name.
    """

    announce: int = 200
    room_announce: int = 200
    welcome_list: int = 50
    room_list: int = 50
    offline_count: int = 100
    offline_age: float = 30 * 24 * 3600.0
    history_on_join: int = 10
    history_default: int = 20
    history_max: int = 200
    missed_max: int = 50
    password_min: int = 6
    password_max: int = 256
    tries_per_name: int = 5
    tries_per_address: int = 20
    tries_window: float = 60.0
    confirm_after: float = 10.0
    file_max_size: int = 100 * 1024 * 1024
    file_quota: int = 1024 * 1024 * 1024
    file_age: float = 7 * 24 * 3600.0
    chunk_max: int = 64 * 1024
    uploads_at_once: int = 32
    writes_ahead: int = 8
    requests_per_turn: int = 100
    hold_max: int = 10_000
    queued_max: int = 1_000
    text_max: int = 4096
    # Files (issue 15): caps on the spool as a whole and per address.
    # spool_quota: bytes of all files in the spool, complete or not.
    # address_file_quota: bytes of the files from one address's
    #   connections still in the spool (exempt networks are not counted).
    # address_uploads_at_once: uploads under way from one address.
    # uploads_open_max: uploads under way on the server (each may hold
    #   a spool file open).
    spool_quota: int = 10 * 1024 * 1024 * 1024
    address_file_quota: int = 2 * 1024 * 1024 * 1024
    address_uploads_at_once: int = 64
    uploads_open_max: int = 512

    # Logins and passwords (issue 15).
    #: Password checks of logins that may wait for a hashing thread, and
    #: apart from them as many of logins from addresses that guessed
    #: wrong, and as many hashes and checks of account requests; more are
    #: refused as busy (L{chat.core.passwords.HashQueue}).  With two
    #: threads and Argon2's tens of milliseconds each, a login waits well
    #: under a second behind a full queue.
    hash_queue: int = 16

    # Flood control (issue 15).
    flood_burst: int = 80
    flood_rate: float = 8.0
    guest_flood_burst: int = 40
    guest_flood_rate: float = 4.0
    flood_backlog: float = 20.0

    # Connections (issue 15, "conns"): see chat.core.admission.
    connections_per_address: int = 16
    connections_per_minute: int = 30
    name_timeout: float = 30.0

    # Mentions and away (issue 16, "mentions").
    #: Characters of an C{/away} reason kept (a longer one is cut, as
    #: IRC servers cut theirs to AWAYLEN).
    away_max: int = 200


class Throttle:
    """
    At most C{limit} failures per key in any C{window} seconds.

    Only failures are kept, and only for keys that failed recently, so an
    attacker cycling through keys costs memory bounded by its own failure
    rate times the window.
    """

    def __init__(self, clock: IReactorTime, limit: int, window: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._sweep_at = 1024

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock.seconds() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def wait(self, key: str) -> float:
        """
        Seconds until C{key} may try again; 0 if it may now.
        """
        times = self._recent(key)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - self._clock.seconds())

    def count(self, key: str) -> int:
        """
        How many failures C{key} has in the window.
        """
        times = self._recent(key)
        return 0 if times is None else len(times)

    def failed(self, key: str) -> float:
        """
        Record a failure for C{key}.

        @return: its time, for L{forget}.
        """
        self._recent(key)
        now = self._clock.seconds()
        self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) >= self._sweep_at:
            # Keys nobody retries are only dropped here: amortised O(1).
            for stale in list(self._failures):
                self._recent(stale)
            self._sweep_at = max(1024, 2 * len(self._failures))
        return now

    def forget(self, key: str, when: float) -> None:
        """
        Take back the failure recorded for C{key} at C{when}: an attempt
        counted when it started that turned out not to be a failure.
        """
        times = self._failures.get(key)
        if times is None:
            return
        try:
            times.remove(when)
        except ValueError:
            return  # out of the window, or forgiven already
        if not times:
            del self._failures[key]

    def succeeded(self, key: str) -> None:
        """
        Forget C{key}'s failures.
        """
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
