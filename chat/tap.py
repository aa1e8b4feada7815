# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd chat} plugin: options and service wiring.
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import cast

from twisted.application import strports
from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.endpoints import (
    SSL4ServerEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    UNIXServerEndpoint,
    _parse,
    quoteStringArgument,
    serverFromString,
)
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IReactorCore,
    IReactorFromThreads,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chat.core.admission import Network, parse_network
from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.core.logs import LogLimiter
from chat.core.names import stored
from chat.core.passwords import PasswordHasher
from chat.lines.factory import ChatFactory
from chat.lines.tls import TLSServerEndpoint
from chat.store.spool import DirectorySpool
from chat.store.sqlite import SQLiteStore
from chat.web.door import WebDoor
from chat.web.files import WebFiles
from chat.web.site import WebService, make_site

_log = Logger()

DEFAULT_LISTEN = "tcp:55555"
#: The web client's listener when no --web is given (issue 17).
DEFAULT_WEB = "tcp:8080"

# Argon2 hashes at once: each takes 64 MiB and a core for tens of
# milliseconds, so this bounds the memory a burst of logins can take, and
# the burst cannot starve the reactor's own pool (name lookups).
PASSWORD_THREADS = 2

# Seconds between two sweeps of expired stored messages.
EXPIRE_EVERY = 3600.0


# TLS (text: issue 15): Mozilla's "intermediate" configuration.  TLS 1.2
# and 1.3; on TLS 1.2 only ephemeral ECDH key exchange with AES-GCM or
# ChaCha20-Poly1305 (forward secret AEAD suites; no CBC, no RSA key
# exchange, no finite-field DHE, which needs parameters of our own); on
# TLS 1.3 OpenSSL's suites, all AEAD.
TLS_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


def tls_options(given: CertificateOptions) -> CertificateOptions:
    """
    The options of a TLS listener: its certificate, key, chain and DH
    parameters from C{given} (what an C{ssl:} endpoint description made),
    with TLS 1.2 at least and the L{TLS_CIPHERS}, whatever C{given} says,
    and session tickets.
    """
    return CertificateOptions(
        privateKey=given.privateKey,
        certificate=given.certificate,
        extraCertChain=given.extraCertChain or None,
        dhParameters=given.dhParameters,
        raiseMinimumTo=TLSVersion.TLSv1_2,
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(TLS_CIPHERS),
        # Session tickets (issue 18): a client that reconnects resumes its
        # session, with no certificate signature and no key exchange of a
        # new certificate chain.  The ticket key is OpenSSL's, made when
        # the listener starts and kept in memory only.
        enableSessionTickets=True,
    )


def _harden(endpoint: IStreamServerEndpoint) -> IStreamServerEndpoint:
    """
    A TLS endpoint with the L{tls_options}, on the line door's own TLS layer
    (L{TLSServerEndpoint}, issue 18), for one an C{ssl:} description made;
    any other endpoint as it is.  Twisted's C{ssl:} description takes no
    ciphers, so the options it made are replaced (private attributes:
    C{tests.test_tap} checks what the reactor is given).
    """
    if isinstance(endpoint, SSL4ServerEndpoint):
        given = endpoint._sslContextFactory
        if isinstance(given, CertificateOptions):
            return TLSServerEndpoint(
                endpoint._reactor,
                endpoint._port,
                tls_options(given),
                backlog=endpoint._backlog,
                interface=endpoint._interface,
            )
    return endpoint


def _harden_twisted_tls(endpoint: IStreamServerEndpoint) -> None:
    """
    Give an endpoint an C{ssl:} description made the L{tls_options}, on
    Twisted's own TLS transport: the web door's (its requests tell
    C{https} by that transport; the line door's faster layer, L{_harden},
    is not yet under twisted.web).
    """
    if isinstance(endpoint, SSL4ServerEndpoint):
        given = endpoint._sslContextFactory
        if isinstance(given, CertificateOptions):
            endpoint._sslContextFactory = tls_options(given)


# The listen backlog (issue 18): connections the kernel completes and
# queues for us to accept.  Twisted's endpoints default to 50; a restart
# that brings every client back at once overflows that, and a connection
# whose handshake finds the queue full is dropped and retried by its client
# a second later (then three, ...).  Linux caps any backlog at
# net.core.somaxconn.
SOMAXCONN = "/proc/sys/net/core/somaxconn"


def kernel_backlog(path: str = SOMAXCONN) -> int:
    """
    The largest listen backlog the kernel grants (Linux:
    C{net.core.somaxconn}), or 4,096 (its default since Linux 5.4) where
    that cannot be read.
    """
    try:
        with open(path) as f:
            return max(1, int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 4096


#: Endpoints (from C{--listen} descriptions) that take a backlog.
_BACKLOG_ENDPOINTS = (
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    SSL4ServerEndpoint,
    UNIXServerEndpoint,
)


def apply_backlog(
    endpoint: IStreamServerEndpoint, description: str, backlog: int
) -> None:
    """
    Give a stream endpoint made from C{description} the listen C{backlog},
    unless the description names one itself (C{backlog=N}).  The endpoints
    keep it in a private attribute, read when they listen.
    """
    if isinstance(endpoint, _BACKLOG_ENDPOINTS):
        try:
            _, given = _parse(description)
        except ValueError:
            given = {}
        if "backlog" not in given:
            endpoint._backlog = backlog


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value} is not a positive number")
    return number


_positive.coerceDoc = "Must be a positive whole number."  # type: ignore[attr-defined]


# Flood control (issue 15).


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{value} is not a positive number")
    return number


_positive_float.coerceDoc = "Must be a positive number."  # type: ignore[attr-defined]
# Connections (issue 15, "conns").


def _seconds(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{value} is not a positive number of seconds")
    return number


_seconds.coerceDoc = "Must be a positive number of seconds."  # type: ignore[attr-defined]

_CONNECTION_OPTIONS = [
    [
        "connections-per-address",
        None,
        Limits().connections_per_address,
        "Connections one address (an IPv6 /64) may have open at once; more "
        "are refused with a reason.",
        _positive,
    ],
    [
        "connections-per-minute",
        None,
        Limits().connections_per_minute,
        "Connections one address (an IPv6 /64) may open in any minute.",
        _positive,
    ],
    [
        "name-timeout",
        None,
        Limits().name_timeout,
        "Seconds a connection may stay without a name before it is closed.",
        _seconds,
    ],
    [
        "tls-handshake-timeout",
        None,
        10.0,
        "Seconds a TLS client has to finish its handshake.",
        _seconds,
    ],
]


def parse_origin(text: str) -> str:
    """
    An origin as browsers send it: C{scheme://host[:port]}, lower-cased.

    @raise ValueError: if C{text} is not one.
    """
    origin = text.strip().lower().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if (
        scheme not in ("http", "https")
        or not sep
        or not rest
        or any(c in rest for c in "/?#@ ")
        or not origin.isascii()
        or not origin.isprintable()
    ):
        raise ValueError("an origin is http:// or https:// and a host[:port]")
    return origin


class Options(usage.Options):
    """
    Options for C{twistd chat}.
    """

    synopsis = "[--listen ENDPOINT]... [--tls-cert FILE --tls-key FILE] [options]"
    longdesc = (
        "A multi-user chat server for nc, telnet, openssl s_client and "
        "chat-client. Every --listen shares one set of users, so TLS and "
        "plain-TCP users talk to each other."
    )
    optFlags = [
        ["no-history", None, "Keep no history of broadcast messages."],
        ["no-web", None, "Serve no web client (no --web listener)."],
    ]
    optParameters = [
        [
            "database",
            None,
            "chat.sqlite3",
            "SQLite file for accounts, stored messages and history; created "
            "and upgraded as needed.",
        ],
        [
            "offline-limit",
            None,
            Limits().offline_count,
            "Private messages kept for one offline registered user; over it "
            "the sender is told to try later.",
            _positive,
        ],
        [
            "offline-days",
            None,
            30,
            "Days a stored private message is kept for an offline user.",
            _positive,
        ],
        [
            "spool",
            None,
            None,
            "Directory where files wait to be fetched [default: chat-spool "
            "next to --database].",
        ],
        [
            "max-file-size",
            None,
            100,
            "Largest file a user may send, in MiB.",
            _positive,
        ],
        [
            "file-quota",
            None,
            1024,
            "MiB of files one user may have waiting to be fetched.",
            _positive,
        ],
        [
            "file-days",
            None,
            7,
            "Days a file waits to be fetched before it is deleted.",
            _positive,
        ],
        [
            "history-on-join",
            None,
            Limits().history_on_join,
            "Broadcasts from history shown to each user who joins (0: none).",
            int,
        ],
        [
            "tls-cert",
            None,
            None,
            "PEM certificate (chain) for a TLS listener on --tls-port.",
        ],
        ["tls-key", None, None, "PEM private key for --tls-cert."],
        ["tls-port", None, 55556, "Port of the --tls-cert listener.", _positive],
        [
            "max-line-length",
            None,
            4096,
            "Longest accepted line in bytes; longer lines are refused.",
            _positive,
        ],
        [
            "send-queue",
            None,
            1024 * 1024,
            "Bytes of output that may wait for a client that stopped reading "
            "before it is disconnected.",
            _positive,
        ],
        [
            "announce-limit",
            None,
            200,
            "Join and leave notices go to everyone only while at most this "
            "many users are online.",
            int,
        ],
        [
            "room-announce-limit",
            None,
            200,
            "Join and leave notices of a room go to its members only while "
            "at most this many are online.",
            int,
        ],
        [
            "log-rate",
            None,
            100,
            "Log at most this many connection events (connects, joins, "
            "leaves, refused requests) a second, then a count of the rest; "
            "0: no limit.",
            int,
        ],
        # Files (issue 15): caps on the spool and per address.
        [
            "spool-quota",
            None,
            Limits().spool_quota // (1024 * 1024),
            "MiB of files the spool may hold in all; offers past it are refused.",
            _positive,
        ],
        [
            "address-file-quota",
            None,
            Limits().address_file_quota // (1024 * 1024),
            "MiB of files from one address's connections the spool may hold "
            "(--exempt networks are not counted).",
            _positive,
        ],
        [
            "address-uploads",
            None,
            Limits().address_uploads_at_once,
            "Uploads under way at once from one address (--exempt networks "
            "are not counted).",
            _positive,
        ],
        [
            "uploads-max",
            None,
            Limits().uploads_open_max,
            "Uploads under way at once on the server (each may hold a spool "
            "file open).",
            _positive,
        ],
        # Flood control (issue 15).
        [
            "flood-burst",
            None,
            Limits().flood_burst,
            "Requests (lines) a registered user may send at once before it "
            "is held to --flood-rate.",
            _positive,
        ],
        [
            "flood-rate",
            None,
            Limits().flood_rate,
            "Requests a second a registered user is held to once its burst is spent.",
            _positive_float,
        ],
        [
            "guest-flood-burst",
            None,
            Limits().guest_flood_burst,
            "Requests a guest (or a client not logged in yet) may send at "
            "once before it is held to --guest-flood-rate.",
            _positive,
        ],
        [
            "guest-flood-rate",
            None,
            Limits().guest_flood_rate,
            "Requests a second a guest is held to once its burst is spent.",
            _positive_float,
        ],
        [
            "flood-backlog",
            None,
            Limits().flood_backlog,
            "Seconds a client may be held back in a row (it keeps sending "
            "faster than its rate) before it is disconnected (excess flood).",
            _positive_float,
        ],
        *_CONNECTION_OPTIONS,
        [
            "web-ping",
            None,
            30.0,
            "Seconds between the pings of a WebSocket; one that answers "
            "nothing by the next ping is dropped.",
            _seconds,
        ],
        [
            "backlog",
            None,
            None,
            "Connections the kernel may queue for every listener while they "
            "wait to be accepted (one a --listen description names with "
            "backlog=N keeps its own) [default: the kernel's most, "
            "net.core.somaxconn].",
            _positive,
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["exempt"] = []
        self["web"] = []
        self["web-origin"] = []

    def opt_web(self, description: str) -> None:
        """
        Serve the web client on a Twisted endpoint (repeatable), e.g.
        tcp:8080:interface=127.0.0.1 or ssl:8443:privateKey=key.pem:certKey=cert.pem
        (https and wss) [default: tcp:8080]
        """
        self["web"].append(description)

    def opt_web_origin(self, origin: str) -> None:
        """
        Let pages of another origin (scheme://host[:port]) open the
        WebSocket too; the page's own always may (repeatable).
        """
        try:
            self["web-origin"].append(parse_origin(origin))
        except ValueError as e:
            raise usage.UsageError(f"--web-origin {origin}: {e}") from None

    def opt_listen(self, description: str) -> None:
        """
        Listen on a Twisted endpoint (repeatable), e.g. tcp:55555 or
        ssl:55556:privateKey=key.pem:certKey=cert.pem [default: tcp:55555]
        """
        self["listen"].append(description)

    def opt_exempt(self, network: str) -> None:
        """
        Lift per-address and flood limits for a network, e.g. 10.0.0.0/8 (repeat).
        """
        try:
            self["exempt"].append(parse_network(network))
        except ValueError as e:
            raise usage.UsageError(f"--exempt {network}: {e}") from None

    def postOptions(self) -> None:
        cert, key = self["tls-cert"], self["tls-key"]
        if (cert is None) != (key is None):
            raise usage.UsageError("--tls-cert and --tls-key must be given together")
        if cert is not None:
            for path in (cert, key):
                if not os.path.isfile(path):
                    raise usage.UsageError(f"no such file: {path}")
            self["listen"].append(
                "ssl:{}:privateKey={}:certKey={}".format(
                    self["tls-port"],
                    quoteStringArgument(key),
                    quoteStringArgument(cert),
                )
            )
        if not self["listen"]:
            self["listen"].append(DEFAULT_LISTEN)
        if self["no-web"]:
            if self["web"]:
                raise usage.UsageError("--web and --no-web contradict each other")
        elif not self["web"]:
            self["web"].append(DEFAULT_WEB)


class ThreadPoolService(Service):
    """
    Runs a thread pool while the service runs.
    """

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


def raise_descriptor_limit() -> int | None:
    """
    Raise the soft limit of open descriptors to the hard limit (an
    unprivileged process may): each connection takes one, and a common
    default soft limit of 1,024 is a few hundred users.

    @return: the soft limit now, or L{None} if there is none.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as e:
            _log.warn(
                "could not raise the descriptor limit from {soft} to {hard}: {error}",
                soft=soft,
                hard=hard,
                error=str(e),
            )
        else:
            _log.info(
                "raised the descriptor limit from {soft} to {hard}",
                soft=soft,
                hard=hard,
            )
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    else:
        _log.info("the descriptor limit is {soft}", soft=soft)
    return None if soft == resource.RLIM_INFINITY else soft


def keep_files_private() -> None:
    """
    Files the server makes (the database with its password hashes, the
    spool, the log) are its user's only: group and others lose every bit
    of the umask, whatever the shell that started it had.
    """
    os.umask(os.umask(0o077) | 0o077)


def exit_status_at_end(status: int) -> None:
    """
    Exit with C{status} once twistd is done (its log flushed, its pid file
    removed): twistd exits 0 after the reactor stops, whatever stopped it,
    and offers a service no other way to fail.
    """

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    atexit.register(leave)


class ChatService(MultiService):
    """
    The core first, then the listeners: nobody logs in before the
    registered names are known, and history is flushed after the last
    listener has stopped.

    @ivar exit_status: what the process exits with after a failed start
        (1), or L{None}.
    """

    def __init__(
        self,
        core: ChatCore,
        reactor: IReactorCore,
        *,
        descriptor_limit: Callable[[], int | None] = raise_descriptor_limit,
        exit_status: Callable[[int], None] = exit_status_at_end,
        private_files: Callable[[], None] = keep_files_private,
    ) -> None:
        """
        @param descriptor_limit: raises the descriptor limit at start, and
            says what it is.
        @param exit_status: makes the process exit with a status after a
            failed start.
        @param private_files: makes the files the server creates private
            (before the store opens).
        """
        super().__init__()
        self.core = core
        self._reactor = reactor
        self._descriptor_limit = descriptor_limit
        self._exit_status = exit_status
        self._private_files = private_files
        self.ready: Deferred[None] | None = None
        self.exit_status: int | None = None

    def privilegedStartService(self) -> None:
        # Listeners bind in startService, once the core is ready.
        Service.privilegedStartService(self)

    def startService(self) -> None:
        Service.startService(self)
        self._private_files()
        self.core.admission.descriptors = self._descriptor_limit()
        # The password threads first: nothing else needs them to start.
        for service in self:
            if isinstance(service, ThreadPoolService):
                service.startService()
        d = self.core.start()
        d.addCallbacks(lambda _: self._listen(), self._store_failed)
        self.ready = d

    def _listen(self) -> None:
        try:
            for service in self:
                if not service.running:
                    service.startService()
        except CannotListenError as e:
            where = f"{e.interface or '*'}:{e.port}"
            _log.critical(
                "cannot listen on {where}: {error}; stopping",
                where=where,
                error=str(e.socketError),
            )
            self._fail()
        except Exception:
            _log.failure("could not start listening; stopping")
            self._fail()

    def _store_failed(self, failure: Failure) -> None:
        _log.failure("the store could not be opened; stopping", failure)
        self._fail()

    def _fail(self) -> None:
        self.exit_status = 1
        self._exit_status(1)
        self._reactor.stop()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        stops = [
            maybeDeferred(s.stopService) for s in reversed(list(self)) if s.running
        ]
        d = DeferredList(stops)
        # The connections are told and closed, then the store closes.
        d.addCallback(lambda _: self.core.stopping())
        d.addCallback(lambda _: self.core.disconnected())
        return d.addCallback(lambda _: self.core.close())


def makeService(options: Options, reactor: IReactorCore | None = None) -> ChatService:
    """
    The chat core, then one listening service per C{--listen}, all
    sharing one L{ChatFactory} on that core.
    """
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = cast(IReactorCore, _reactor)
    clock = cast(IReactorTime, reactor)
    limits = Limits(
        announce=options["announce-limit"],
        room_announce=options["room-announce-limit"],
        offline_count=options["offline-limit"],
        offline_age=options["offline-days"] * 24 * 3600.0,
        history_on_join=max(0, options["history-on-join"]),
        file_max_size=options["max-file-size"] * 1024 * 1024,
        file_quota=options["file-quota"] * 1024 * 1024,
        file_age=options["file-days"] * 24 * 3600.0,
        text_max=options["max-line-length"],
        connections_per_address=options["connections-per-address"],
        connections_per_minute=options["connections-per-minute"],
        name_timeout=options["name-timeout"],
        # Flood control (issue 15).
        flood_burst=options["flood-burst"],
        flood_rate=options["flood-rate"],
        guest_flood_burst=options["guest-flood-burst"],
        guest_flood_rate=options["guest-flood-rate"],
        flood_backlog=options["flood-backlog"],
    )
    # Files (issue 15).
    limits = replace(
        limits,
        spool_quota=options["spool-quota"] * 1024 * 1024,
        address_file_quota=options["address-file-quota"] * 1024 * 1024,
        address_uploads_at_once=options["address-uploads"],
        uploads_open_max=options["uploads-max"],
    )
    exempt: list[Network] = options["exempt"]
    passwords = ThreadPool(0, PASSWORD_THREADS, "txchat-passwords")
    spool = options["spool"] or os.path.join(
        os.path.dirname(os.path.abspath(options["database"])), "chat-spool"
    )
    core = ChatCore(
        clock,
        SQLiteStore(options["database"], clock=clock, names=stored),
        DirectorySpool(spool),
        PasswordHasher(
            reactor=cast(IReactorFromThreads, reactor), threadpool=passwords
        ),
        limits=limits,
        keep_history=not options["no-history"],
        log_limiter=LogLimiter(clock, per_second=options["log-rate"]),
        exempt=exempt,
    )
    factory = ChatFactory(
        core,
        max_line_length=options["max-line-length"],
        send_queue_limit=options["send-queue"],
        handshake_timeout=options["tls-handshake-timeout"],
    )
    parent = ChatService(core, reactor)
    ThreadPoolService(passwords).setServiceParent(parent)
    expire = TimerService(EXPIRE_EVERY, core.expire)
    expire.clock = clock
    expire.setServiceParent(parent)
    backlog = options["backlog"] or kernel_backlog()
    for description in options["listen"]:
        listener = strports.service(description, factory, reactor=reactor)
        apply_backlog(listener.endpoint, description, backlog)
        listener.endpoint = _harden(listener.endpoint)
        listener.setServiceParent(parent)
    if options["web"]:
        # The web door (issue 17): one site for every --web.
        files = WebFiles(core)
        door = WebDoor(
            core,
            max_line_length=options["max-line-length"],
            send_queue_limit=options["send-queue"],
            ping_interval=options["web-ping"],
            origins=options["web-origin"],
            files=files,
        )
        site = make_site(door, files)
        for description in options["web"]:
            endpoint = serverFromString(reactor, description)
            apply_backlog(endpoint, description, backlog)
            _harden_twisted_tls(endpoint)
            WebService(endpoint, site, door).setServiceParent(parent)
    return parent
