# -*- test-case-name: tests.core.test_core -*-
"""
L{ChatCore}: the chat core, built once (by L{chat.tap.makeService}) and
handed to every door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.core.accounts import Accounts
from chat.core.admission import Admission, Network
from chat.core.client import IConnection
from chat.core.delivery import Delivery
from chat.core.fanout import IFanOut, LocalFanOut
from chat.core.flood import FloodLimits
from chat.core.limits import Limits
from chat.core.logins import Logins
from chat.core.logs import LogLimiter
from chat.core.messages import Messages
from chat.core.passwords import HashQueue, PasswordHasher
from chat.core.peers import Peers
from chat.core.presence import IPresence, LocalPresence
from chat.core.rooms import Rooms
from chat.core.session import Services, Session
from chat.core.transfers import Transfers
from chat.events import ShuttingDown
from chat.store.interface import IChatStore
from chat.store.spool import ISpool

_log: Final = Logger(namespace="chat.core.core")


class ChatCore:
    """
    Who is online, rooms, accounts, history, offline queues, files,
    limits and throttles of one chat server, on its clock and store; no
    sockets, no wire formats, no file paths.

    A door calls L{open_session} for each connection and then the
    L{Session}'s methods.

    @ivar security_log: the log budget of security events, apart from
        L{log_limiter}'s so that no client's noise can spend it.
    @ivar auth_log: the log budget of password events, apart from both.
    @ivar presence: who is online.
    @ivar fanout: how broadcasts travel.
    """

    def __init__(
        self,
        clock: IReactorTime,
        store: IChatStore,
        spool: ISpool,
        hasher: PasswordHasher,
        *,
        limits: Limits | None = None,
        keep_history: bool = True,
        log_limiter: LogLimiter | None = None,
        presence: IPresence | None = None,
        fanout: Callable[[IPresence, Delivery], IFanOut] = LocalFanOut,
        exempt: Iterable[Network] = (),
    ) -> None:
        """
        @param log_limiter: rate-limits the log lines of per-connection
            events (joins, leaves, refusals); shared with the doors, which
            log their connections through it.
        @param presence: who is online; L{LocalPresence} by default.
        @param fanout: makes the fan-out from the presence and this core's
            L{Delivery} (which a fan-out across nodes hands what it
            receives); L{LocalFanOut} by default.
        @param exempt: the networks exempted from the per-address and
            flood limits (C{--exempt}).
        """
        self.clock = clock
        self.store = store
        self.spool = spool
        self.limits = limits = limits or Limits()
        self.log_limiter = log_limiter or LogLimiter(clock)
        self.security_log = LogLimiter(
            clock, self.log_limiter.per_second, what="security"
        )
        self.auth_log = LogLimiter(clock, self.log_limiter.per_second, what="password")
        self.delivery = Delivery(clock, hold_max=limits.hold_max)
        self.presence = presence if presence is not None else LocalPresence()
        self.fanout = fanout(self.presence, self.delivery)
        self.admission = Admission(
            clock,
            limits,
            self.security_log,
            exempt=exempt,
            open_files=lambda: self.transfers.open_uploads(),
        )
        peers = Peers(
            clock,
            store,
            self.presence,
            self.fanout,
            self.delivery,
            limits,
            self.log_limiter,
            self.security_log,
            keep_history,
            self.admission,
            self.auth_log,
        )
        #: The hashing work waiting for the hasher's threads (issue 15).
        self.hashing = HashQueue(
            hasher, workers=hasher.workers, limit=limits.hash_queue
        )
        self.accounts = Accounts(peers, self.hashing)
        self.messages = Messages(peers, self.accounts)
        self.rooms = Rooms(peers, self.accounts)
        self.transfers = Transfers(peers, spool, self.accounts, self.rooms)
        self.logins = Logins(
            peers, self.accounts, self.messages, self.rooms, self.transfers
        )
        self._services = Services(
            clock,
            self.delivery,
            self.logins,
            self.accounts,
            self.messages,
            self.rooms,
            self.transfers,
            limits,
            self.log_limiter,
            limits.requests_per_turn,
            self.security_log,
            FloodLimits.of(limits),
            self.admission,
        )

    def open_session(
        self,
        connection: IConnection,
        peer: str,
        *,
        secure: bool = False,
        acknowledges: bool = False,
        exempt: bool = False,
    ) -> Session:
        """
        A session for a new client connection, which has no name yet; or,
        if the connection is refused (too many from its address, too many
        descriptors open), a session already C{CLOSED}: the client was told
        why and its connection is closing (L{Admission.open}).

        @param peer: the client's address, for throttling: a host, no port.
        @param secure: the connection is encrypted (TLS).
        @param acknowledges: the client confirms stored messages itself.
        @param exempt: exempt the client from the per-address and flood
            limits whatever its address; it is anyway if C{peer} is in a
            network the operator exempted (C{--exempt}).
        """
        session = Session(
            self._services,
            connection,
            peer,
            secure=secure,
            acknowledges=acknowledges,
            exempt=exempt or self.admission.is_exempt(peer),
        )
        self.admission.open(session)
        return session

    def start(self) -> Deferred[None]:
        """
        Open the store, read the registered names and the rooms, and start
        the spool: before any door serves.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self.store.start()
        await self.accounts.load()
        await self.messages.load()
        await self.rooms.load()
        await self.transfers.start()

    def expire(self) -> Deferred[None]:
        """
        Delete stored messages and files past their age; run now and then.
        A failure is logged and the next run tries again.
        """
        d = self.messages.expire()
        d.addErrback(lambda f: _log.failure("deleting expired messages failed", f))
        d.addCallback(lambda _: self.transfers.expire())
        d.addErrback(lambda f: _log.failure("deleting expired files failed", f))
        return d

    def stopping(self) -> Deferred[None]:
        """
        The doors stopped listening and the store closes next: write what
        this turn gathered, record what must outlive the connections (what
        online members have seen), and let their later departures write
        nothing (what guests leave behind is cleared at the next start);
        then tell every connection the server is shutting down and close
        it (L{disconnected} waits for them).
        """
        self.delivery.end_turn()
        self.log_limiter.stop()
        self.security_log.stop()
        self.auth_log.stop()
        self.transfers.stopping()
        d = self.rooms.stopping()
        self.admission.shutdown(ShuttingDown(self.clock.seconds()))
        return d

    def disconnected(self) -> Deferred[None]:
        """
        After L{stopping}: fires once every connection has closed (so what
        it was sent, the notice last, went out, and its departure was
        written), or after L{chat.core.admission.SHUTDOWN_GRACE} seconds,
        when the rest are dropped; the store may close then.
        """
        return self.admission.all_closed()

    def close(self) -> Deferred[None]:
        """
        Close the store, then the spool.
        """
        d = self.store.close()
        return d.addCallback(lambda _: self.spool.close())
