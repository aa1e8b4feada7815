# -*- test-case-name: tests.core.test_admission -*-
"""
L{Admission}: who may open a connection, how long it may stay without a
name, and how every connection is told and closed at shutdown; the same
rules for every door.

A door calls L{chat.core.core.ChatCore.open_session} when a connection
opens (the session is refused there, or counted) and
L{chat.core.session.Session.closed} when it closes (it stops counting).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from chat.core.client import CLOSED, LOGGING_IN, NAMELESS, PASSWORD, Client
from chat.core.limits import Limits
from chat.core.logs import LogLimiter
from chat.errors import ChatError, NameTimeout, ServerFull, TooManyConnections
from chat.events import Error, Event

_log: Final = Logger(namespace="chat.core.admission")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Descriptors kept for everything that is not a client connection: the
#: store (SQLite's database, journal and shared memory), the log, the
#: listening sockets, the reactor's waker, the thread pools' pipes.
DESCRIPTOR_RESERVE: Final = 64

#: Seconds the connections told of a shutdown have to close cleanly (what
#: they were sent written out) before they are dropped.
SHUTDOWN_GRACE: Final = 5.0

#: The prefix length an IPv6 address is counted by: one host (or one
#: customer) has a whole /64, as Ergo's C{cidr-len-ipv6} assumes.
IPV6_PREFIX: Final = 64


def parse_network(text: str) -> Network:
    """
    The network C{text} names (C{10.0.0.0/8}, C{2001:db8::/32}, or one
    address), for C{--exempt}.

    @raise ValueError: if it names none (host bits set included).
    """
    return ipaddress.ip_network(text.strip(), strict=True)


@lru_cache(maxsize=4096)
def _address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # (Cached: a client that reconnects, or many from one address, cost
    # one parse.)
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_key(peer: str) -> str:
    """
    What connections from C{peer} are counted under: the address for
    IPv4, its /64 for IPv6 (anyone with one address has the 2**64 of its
    network), the text itself for anything else (a UNIX socket).
    """
    address = _address(peer)
    if address is None:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return str(network)
    return str(address)


class _Window:
    """
    When the connections of the last C{window} seconds were opened, per
    address key.  Only keys that opened a connection within the window are
    kept, each with at most C{limit} times (refused connections are not
    recorded), so memory is bounded by the rate connections are accepted.
    """

    def __init__(self, clock: IReactorTime, limit: int, window: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._opened: dict[str, deque[float]] = {}
        self._sweep_at = 1024

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._opened.get(key)
        if times is None:
            return None
        horizon = now - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._opened[key]
            return None
        return times

    def wait(self, key: str) -> float:
        """
        Seconds until C{key} may open another connection; 0 if it may now.
        """
        now = self._clock.seconds()
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def opened(self, key: str) -> None:
        """
        C{key} opened a connection now.
        """
        now = self._clock.seconds()
        self._opened.setdefault(key, deque()).append(now)
        if len(self._opened) >= self._sweep_at:
            # Keys that stopped connecting are only dropped here.
            for stale in list(self._opened):
                self._recent(stale, now)
            self._sweep_at = max(1024, 2 * len(self._opened))

    def __len__(self) -> int:
        return len(self._opened)


class Admission:
    """
    The connections of one core: their count per address and per minute,
    the exempted networks, the descriptors they may take, the deadline for
    a name (one timer per connection until it has a name, as Twisted's
    C{TimeoutMixin} has), and closing them all at shutdown.

    @ivar descriptors: the process's limit of open descriptors (the soft
        C{RLIMIT_NOFILE}), or L{None} for none known; set at start.
    """

    def __init__(
        self,
        clock: IReactorTime,
        limits: Limits,
        security_log: LogLimiter,
        *,
        exempt: Iterable[Network] = (),
        open_files: Callable[[], int] = lambda: 0,
    ) -> None:
        """
        @param exempt: the networks the per-address limits do not apply to
            (C{--exempt}): a school or an office behind one NAT.
        @param open_files: how many files the core holds open besides its
            connections (uploads into the spool), for the descriptor limit.
        """
        self._clock = clock
        self._limits = limits
        self._security_log = security_log
        self.exempt_networks = tuple(exempt)
        self._open_files = open_files
        self.descriptors: int | None = None
        # Every open session, and the address key it is counted under
        # (None: exempt): the ones to tell at shutdown.
        self._sessions: dict[Client, str | None] = {}
        self._per_address: dict[str, int] = {}
        self._window = _Window(clock, limits.connections_per_minute, 60.0)
        # When each session that has no name yet must have one, in the
        # order they opened (one timeout for all: the order of their
        # deadlines), and the one call that waits for the first.
        self._deadlines: dict[Client, float] = {}
        self._deadline_call: IDelayedCall | None = None
        self._all_closed: Deferred[None] | None = None
        self._stopping = False

    def __len__(self) -> int:
        return len(self._sessions)

    def is_exempt(self, peer: str) -> bool:
        """
        Whether C{peer} is in a network exempted from the per-address and
        flood limits.
        """
        networks = self.exempt_networks
        if not networks:
            return False
        address = _address(peer)
        if address is None:
            return False
        return any(address in network for network in networks)

    # Opening and closing.

    def open(self, client: Client) -> None:
        """
        Count C{client}'s new connection, or refuse it: the client is told
        why, its connection closes, and its state is C{CLOSED}.
        """
        key = None if client.exempt else address_key(client.peer)
        refusal = self._refusal(key)
        if refusal is not None:
            self._security_log.warn(
                _log,
                "refused a connection from {peer}: {reason}",
                peer=client.peer,
                reason=str(refusal),
            )
            self._close(client, refusal)
            return
        self._sessions[client] = key
        if key is not None:
            self._per_address[key] = self._per_address.get(key, 0) + 1
            self._window.opened(key)
        self._expect_name(client)

    def _refusal(self, key: str | None) -> ChatError | None:
        if self._stopping:
            return ServerFull(
                "the server is shutting down; please reconnect in a moment."
            )
        limit = self.descriptors
        if limit is not None:
            used = len(self._sessions) + self._open_files() + DESCRIPTOR_RESERVE
            if used >= limit:
                return ServerFull(
                    "the server has as many connections as it can take; "
                    "please try again in a few minutes."
                )
        if key is None:
            return None
        limits = self._limits
        if self._per_address.get(key, 0) >= limits.connections_per_address:
            return TooManyConnections(
                "too many connections from your address; at most "
                f"{limits.connections_per_address} at once: close one and "
                "try again."
            )
        wait = self._window.wait(key)
        if wait > 0:
            return TooManyConnections(
                "too many connections from your address; at most "
                f"{limits.connections_per_minute} a minute: try again in "
                f"{int(wait) + 1} seconds."
            )
        return None

    def _close(self, client: Client, error: ChatError) -> None:
        client.state, client.asked = CLOSED, None
        client.connection.deliver(Error.refusing(self._clock.seconds(), error))
        client.connection.close()

    def closed(self, client: Client) -> None:
        """
        C{client}'s connection is gone: it counts no more.
        """
        if client not in self._sessions:
            return
        key = self._sessions.pop(client)
        self.named(client)
        if key is not None:
            count = self._per_address[key] - 1
            if count:
                self._per_address[key] = count
            else:
                del self._per_address[key]
        if not self._sessions and self._all_closed is not None:
            d, self._all_closed = self._all_closed, None
            d.callback(None)

    def addresses(self) -> int:
        """
        How many address keys are kept (for tests: it must stay bounded).
        """
        return len(self._per_address) + len(self._window)

    # The deadline for a name.

    def named(self, client: Client) -> None:
        """
        C{client} is in under a name: no deadline any more.
        """
        deadlines = self._deadlines
        if deadlines.pop(client, None) is not None and not deadlines:
            # Nobody waits for a name: an idle server keeps no timer.
            call, self._deadline_call = self._deadline_call, None
            if call is not None and call.active():
                call.cancel()

    def _expect_name(self, client: Client) -> None:
        """
        C{client} must have a name within the timeout: one call waits for
        the first deadline, not one per connection (a login costs a dict
        entry, not a timer to schedule and cancel).
        """
        timeout = self._limits.name_timeout
        self._deadlines[client] = self._clock.seconds() + timeout
        if self._deadline_call is None:
            self._deadline_call = self._clock.callLater(timeout, self._expire)

    def _expire(self) -> None:
        """
        Close the sessions past their deadline with no name; wait for the
        next deadline.
        """
        self._deadline_call = None
        deadlines, now = self._deadlines, self._clock.seconds()
        for _ in range(len(deadlines)):
            client, at = next(iter(deadlines.items()))
            if at > now:
                break
            del deadlines[client]
            state = client.state
            if state is LOGGING_IN:
                # Its password is being checked: the server's wait, not
                # the client's; it is looked at again later.
                self._expect_name(client)
            elif state is NAMELESS or state is PASSWORD:
                self._timed_out(client)
        if deadlines and self._deadline_call is None:
            first = next(iter(deadlines.values()))
            self._deadline_call = self._clock.callLater(
                max(0.0, first - now), self._expire
            )

    def _timed_out(self, client: Client) -> None:
        timeout = self._limits.name_timeout
        self._security_log.info(
            _log,
            "closing {peer}: no name within {timeout} seconds",
            peer=client.peer,
            timeout=timeout,
        )
        self._close(
            client,
            NameTimeout(
                f"registration timeout: no name was given within {timeout:g} "
                "seconds; connect again when you are ready."
            ),
        )

    # Shutting down.

    def shutdown(self, notice: Event) -> None:
        """
        Send every connection C{notice} and close it; refuse new ones.
        """
        self._stopping = True
        if self._deadline_call is not None and self._deadline_call.active():
            self._deadline_call.cancel()
        self._deadline_call = None
        self._deadlines.clear()
        sessions = list(self._sessions)
        for client in sessions:
            client.connection.deliver(notice)
        for client in sessions:
            client.connection.close()

    def all_closed(self) -> Deferred[None]:
        """
        A L{Deferred} that fires once every connection has closed, or after
        L{SHUTDOWN_GRACE} seconds, when those left are dropped.
        """
        if not self._sessions:
            return succeed(None)
        if self._all_closed is None:
            self._all_closed = Deferred()
        timer = self._clock.callLater(SHUTDOWN_GRACE, self._drop_the_rest)

        def done(result: None) -> None:
            if timer.active():
                timer.cancel()

        return self._all_closed.addCallback(done)

    def _drop_the_rest(self) -> None:
        left = list(self._sessions)
        _log.warn(
            "{count} connections did not close in {grace} seconds; dropping them",
            count=len(left),
            grace=SHUTDOWN_GRACE,
        )
        d, self._all_closed = self._all_closed, None
        for client in left:
            client.connection.abort()
        if d is not None:
            d.callback(None)
