"""
Tests for L{chat.tap} and the twistd plugin, with no sockets.
"""

from __future__ import annotations

import os
import resource
import ssl as stdlib_ssl

from OpenSSL import SSL

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker
from twisted.internet import ssl
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
)
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.server import Site
from zope.interface import implementer

from chat.core.limits import Limits
from chat.core.passwords import PasswordHasher
from chat.lines.factory import ChatFactory
from chat.lines.protocol import ChatProtocol
from chat.lines.tls import TLSFactory
from chat.store.interface import Account, StoredMessage
from chat.store.spool import DirectorySpool
from chat.store.sqlite import SQLiteStore
from chat.tap import (
    EXPIRE_EVERY,
    ChatService,
    Options,
    kernel_backlog,
    makeService,
    raise_descriptor_limit,
    tls_options,
)
from chat.web.site import WebService
from tests.support import make_certificate

DAY = 24 * 3600.0


class OptionsTests(SynchronousTestCase):
    """
    Parsing C{twistd chat} options.
    """

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self) -> None:
        """
        With no options the server listens on tcp:55555 with documented limits.
        """
        options = self.parse()
        self.assertEqual(options["listen"], ["tcp:55555"])
        self.assertEqual(options["max-line-length"], 4096)
        self.assertEqual(options["announce-limit"], 200)
        self.assertEqual(options["room-announce-limit"], 200)

    def test_repeated_listen(self) -> None:
        """
        C{--listen} may be given several times.
        """
        options = self.parse("--listen", "tcp:1", "--listen", "tcp:2")
        self.assertEqual(options["listen"], ["tcp:1", "tcp:2"])

    def test_tls_shortcut(self) -> None:
        """
        C{--tls-cert} and C{--tls-key} add an C{ssl:} listener.
        """
        cert, key = make_certificate(self.mktemp())
        options = self.parse("--tls-cert", cert, "--tls-key", key, "--tls-port", "7")
        self.assertEqual(
            options["listen"],
            [
                f"ssl:7:privateKey={quoteStringArgument(key)}:"
                f"certKey={quoteStringArgument(cert)}"
            ],
        )

    def test_tls_needs_both(self) -> None:
        """
        A certificate without a key, or a missing file, is a usage error.
        """
        cert, key = make_certificate(self.mktemp())
        self.assertRaises(UsageError, self.parse, "--tls-cert", cert)
        self.assertRaises(UsageError, self.parse, "--tls-key", key)
        self.assertRaises(
            UsageError, self.parse, "--tls-cert", cert, "--tls-key", "/nonexistent"
        )

    def test_bad_numbers(self) -> None:
        """
        Limits must be positive numbers.
        """
        self.assertRaises(UsageError, self.parse, "--max-line-length", "0")
        self.assertRaises(UsageError, self.parse, "--send-queue", "lots")
        self.assertRaises(UsageError, self.parse, "--flood-burst", "0")
        self.assertRaises(UsageError, self.parse, "--flood-rate", "0")
        self.assertRaises(UsageError, self.parse, "--guest-flood-rate", "-1")
        self.assertRaises(UsageError, self.parse, "--flood-backlog", "nan")
        self.assertRaises(UsageError, self.parse, "--flood-backlog", "inf")

    def test_flood_defaults(self) -> None:
        """
        The flood options default to the core's L{Limits}.
        """
        options = self.parse()
        limits = Limits()
        self.assertEqual(
            (
                options["flood-burst"],
                options["flood-rate"],
                options["guest-flood-burst"],
                options["guest-flood-rate"],
                options["flood-backlog"],
            ),
            (
                limits.flood_burst,
                limits.flood_rate,
                limits.guest_flood_burst,
                limits.guest_flood_rate,
                limits.flood_backlog,
            ),
        )


class MakeServiceTests(TestCase):
    """
    L{makeService} builds listeners on the given reactor.
    """

    async def test_tcp_and_tls_share_factory(self) -> None:
        """
        Every C{--listen} becomes a listener, all sharing one factory, and
        TLS listeners use TLS 1.2 or newer; they listen once the store is
        open.
        """
        reactor = MemoryReactorClock()
        cert, key = make_certificate(self.mktemp())
        options = Options()
        options.parseOptions(
            [
                "--listen",
                "tcp:4040:interface=127.0.0.1",
                "--listen",
                f"ssl:55556:privateKey={quoteStringArgument(key)}:"
                f"certKey={quoteStringArgument(cert)}",
                "--max-line-length",
                "100",
                "--database",
                self.mktemp() + ".sqlite3",
            ]
        )
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(reactor.tcpServers, [])
        assert service.ready is not None
        await service.ready
        # The line listener, the TLS one (the line door's own layer on a
        # TCP port, issue 18), then the web client's on its default port.
        [
            (port, factory, _, interface),
            (ssl_port, tls, _, _),
            (web_port, site, _, web_interface),
        ] = reactor.tcpServers
        self.assertEqual((port, interface), (4040, "127.0.0.1"))
        self.assertEqual((web_port, web_interface), (8080, ""))
        self.assertIsInstance(site, Site)
        self.assertEqual(reactor.sslServers, [])
        self.assertEqual(ssl_port, 55556)
        self.assertIsInstance(tls, TLSFactory)
        assert isinstance(tls, TLSFactory)
        self.assertIs(tls.wrappedFactory, factory)
        context_factory = tls.options
        self.assertIsInstance(factory, ChatFactory)
        assert isinstance(factory, ChatFactory)
        self.assertEqual(factory.max_line_length, 100)
        # The line door's lines are the only bound on text its users meet.
        self.assertEqual(service.core.limits.text_max, 100)
        self.assertIs(factory.core, service.core)
        self.assertIs(factory.clock, reactor)
        self.assertIsInstance(context_factory, ssl.CertificateOptions)
        assert isinstance(context_factory, ssl.CertificateOptions)
        self.assertEqual(
            context_factory._defaultMinimumTLSVersion, ssl.TLSVersion.TLSv1_2
        )

    def service(self, *argv: str) -> ChatService:
        """
        The service L{makeService} builds from C{argv}, on a memory reactor;
        nothing is started.
        """
        options = Options()
        options.parseOptions(["--database", self.mktemp() + ".sqlite3", *argv])
        return makeService(options, reactor=MemoryReactorClock())

    def test_room_announce_limit(self) -> None:
        """
        The room announce limit reaches the core: 200 by default, or what
        C{--room-announce-limit} says (apart from the server-wide
        C{--announce-limit}).
        """
        self.assertEqual(self.service().core.limits.room_announce, 200)
        limits = self.service(
            "--room-announce-limit", "7", "--announce-limit", "9"
        ).core.limits
        self.assertEqual(limits.room_announce, 7)
        self.assertEqual(limits.announce, 9)

    def test_one_core(self) -> None:
        """
        The server is one core, as the options describe it: an SQLite store
        at C{--database}, files spooled next to it, hashed passwords, the
        limits, history and log rate given; every listener's factory is on
        that core.
        """
        directory = os.path.abspath(self.mktemp())
        database = os.path.join(directory, "chat.sqlite3")
        options = Options()
        options.parseOptions(
            [
                "--listen",
                "tcp:1",
                "--listen",
                "tcp:2",
                "--database",
                database,
                "--offline-limit",
                "3",
                "--offline-days",
                "2",
                "--max-file-size",
                "5",
                "--file-quota",
                "6",
                "--file-days",
                "4",
                "--history-on-join",
                "-1",
                "--log-rate",
                "7",
                "--spool-quota",
                "8",
                "--address-file-quota",
                "9",
                "--address-uploads",
                "10",
                "--uploads-max",
                "11",
                "--flood-burst",
                "11",
                "--flood-rate",
                "2.5",
                "--guest-flood-burst",
                "5",
                "--guest-flood-rate",
                "0.5",
                "--flood-backlog",
                "3",
            ]
        )
        service = makeService(options, reactor=MemoryReactorClock())
        core = service.core
        self.assertIsInstance(core.store, SQLiteStore)
        assert isinstance(core.store, SQLiteStore)
        self.assertEqual(core.store.path, database)
        self.assertIsInstance(core.spool, DirectorySpool)
        assert isinstance(core.spool, DirectorySpool)
        self.assertEqual(core.spool.path, os.path.join(directory, "chat-spool"))
        self.assertIsInstance(core.hashing._hasher, PasswordHasher)
        self.assertEqual(core.hashing._hasher.workers, 2)  # its pool's threads
        self.assertEqual(core.limits.offline_count, 3)
        self.assertEqual(core.limits.offline_age, 2 * DAY)
        self.assertEqual(core.limits.file_max_size, 5 * 1024 * 1024)
        self.assertEqual(core.limits.file_quota, 6 * 1024 * 1024)
        self.assertEqual(core.limits.file_age, 4 * DAY)
        self.assertEqual(core.limits.history_on_join, 0)
        self.assertTrue(core.messages.keep_history)
        self.assertTrue(core.rooms.keep_history)
        self.assertEqual(core.log_limiter.per_second, 7)
        self.assertEqual(
            (
                core.limits.spool_quota,
                core.limits.address_file_quota,
                core.limits.address_uploads_at_once,
                core.limits.uploads_open_max,
            ),
            (8 * 1024 * 1024, 9 * 1024 * 1024, 10, 11),
        )
        self.assertEqual(
            (
                core.limits.flood_burst,
                core.limits.flood_rate,
                core.limits.guest_flood_burst,
                core.limits.guest_flood_rate,
                core.limits.flood_backlog,
            ),
            (11, 2.5, 5, 0.5, 3.0),
        )
        factories = [
            listener.factory
            for listener in service
            if isinstance(listener, StreamServerEndpointService)
        ]
        self.assertEqual(len(factories), 2)
        for factory in factories:
            self.assertIs(factory, factories[0])
            self.assertIsInstance(factory, ChatFactory)
            self.assertIs(factory.core, core)

    def test_spool_and_no_history(self) -> None:
        """
        C{--spool} puts the files elsewhere, and C{--no-history} keeps no
        history of broadcasts, in the main chat or in rooms.
        """
        spool = os.path.abspath(self.mktemp())
        core = self.service("--spool", spool, "--no-history").core
        assert isinstance(core.spool, DirectorySpool)
        self.assertEqual(core.spool.path, spool)
        self.assertFalse(core.messages.keep_history)
        self.assertFalse(core.rooms.keep_history)

    async def test_one_write_per_turn(self) -> None:
        """
        The server coalesces writes (there is no switch): a reactor turn's
        broadcasts reach each connection in one write at the turn's end,
        not one per message, which keeps a busy server's system calls down.
        """
        reactor = MemoryReactorClock()
        options = Options()
        options.parseOptions(["--database", self.mktemp() + ".sqlite3"])
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.ready is not None
        await service.ready
        [factory] = [f for _, f, _, _ in reactor.tcpServers if type(f) is ChatFactory]
        assert isinstance(factory, ChatFactory)

        def connect(name: str) -> tuple[ChatProtocol, CountingTransport]:
            address = IPv4Address("TCP", "127.0.0.1", 40000 + len(name))
            protocol = factory.buildProtocol(address)
            assert protocol is not None
            transport = CountingTransport(peerAddress=address)
            protocol.makeConnection(transport)
            protocol.dataReceived(f"{name}\r\n".encode())
            reactor.advance(0)
            transport.clear()
            # Closed before the service stops, which waits for that.
            self.addCleanup(protocol.connectionLost, Failure(ConnectionDone()))
            return protocol, transport

        alice, _ = connect("alice")
        _, bob = connect("bob")
        alice.dataReceived(b"one\r\ntwo\r\nthree\r\n")
        self.assertEqual(bob.value(), b"")
        reactor.advance(0)
        self.assertEqual(bob.value(), b"alice: one\r\nalice: two\r\nalice: three\r\n")
        self.assertEqual(bob.writes, 1)

    async def test_expire_and_password_pool(self) -> None:
        """
        Once the store is open, expired stored messages are deleted, and
        again every L{EXPIRE_EVERY} seconds; passwords are hashed in the
        service's own pool, which runs only while the service does.
        """
        path = self.mktemp() + ".sqlite3"
        before = SQLiteStore(path)
        await before.start()
        await before.create_account(Account("bob", "bob", "hash", -9 * DAY))
        for text, when in (("old", -DAY - 1), ("new", -10.0)):
            message = StoredMessage(0, "bob", "al", text, when)
            await before.enqueue(message, max_count=9, max_age=9e9)
        await before.close()

        reactor = MemoryReactorClock()
        options = Options()
        options.parseOptions(["--offline-days", "1", "--database", path])
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.ready is not None
        await service.ready
        store = service.core.store
        assert isinstance(store, SQLiteStore)
        # One connection, one thread: a request made after the sweep
        # returns after it.
        await store.account_names()
        [new] = await store.pending("bob", 0.0, 9e9)
        self.assertEqual(new.text, "new")
        reactor.advance(EXPIRE_EVERY)
        await store.account_names()
        self.assertEqual(await store.pending("bob", 0.0, 9e9), [new])
        reactor.advance(DAY)
        await store.account_names()
        self.assertEqual(await store.pending("bob", 0.0, 9e9), [])

        pool = service.core.hashing._hasher._threadpool
        assert pool is not None
        self.assertEqual(pool.name, "txchat-passwords")
        self.assertTrue(pool.started)
        await service.stopService()
        self.assertFalse(pool.started)


class CountingTransport(StringTransport):
    """
    A L{StringTransport} that counts the writes since it was last cleared.
    """

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)

    def clear(self) -> None:
        self.writes = 0
        super().clear()


class PluginTests(SynchronousTestCase):
    """
    The plugin is discoverable and points at L{chat.tap}.
    """

    def test_discoverable(self) -> None:
        """
        twistd finds C{chat}, whose options and service come from
        L{chat.tap}.
        """
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
        self.assertIn("chat", makers)
        maker = makers["chat"]
        self.assertIs(maker.options, Options)
        self.assertIs(maker.makeService, makeService)


def handshake(server: SSL.Context, client: stdlib_ssl.SSLContext) -> str | None:
    """
    A TLS handshake in memory between C{server} and C{client}: the cipher
    suite agreed on, or L{None} if either side refused.
    """
    accepted = SSL.Connection(server, None)
    accepted.set_accept_state()
    incoming, outgoing = stdlib_ssl.MemoryBIO(), stdlib_ssl.MemoryBIO()
    connecting = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    for _ in range(10):
        try:
            connecting.do_handshake()
            cipher = connecting.cipher()
            return cipher[0] if cipher else None
        except stdlib_ssl.SSLWantReadError:
            pass
        except stdlib_ssl.SSLError:
            return None
        accepted.bio_write(outgoing.read())
        try:
            accepted.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error:
            return None
        try:
            incoming.write(accepted.bio_read(65536))
        except SSL.WantReadError:
            pass
    raise AssertionError("the handshake did not end")


def tls_client(
    ciphers: str | None = None,
    maximum: stdlib_ssl.TLSVersion = stdlib_ssl.TLSVersion.TLSv1_2,
) -> stdlib_ssl.SSLContext:
    """
    A client context that trusts anything, speaks at most C{maximum} and
    offers only C{ciphers} (OpenSSL's cipher string) on TLS 1.2.
    """
    context = stdlib_ssl.SSLContext(stdlib_ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = stdlib_ssl.CERT_NONE
    context.minimum_version = stdlib_ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = maximum
    if ciphers is not None:
        context.set_ciphers(ciphers + ":@SECLEVEL=0")
    return context


class TLSTests(TestCase):
    """
    TLS listeners use Mozilla's "intermediate" configuration, however the
    C{ssl:} description that made them reads.
    """

    def server_context(self, extra: str = "") -> SSL.Context:
        """
        The context of the TLS listener C{makeService} makes for an C{ssl:}
        description (with C{extra} arguments).
        """
        reactor = MemoryReactorClock()
        cert, key = make_certificate(self.mktemp())
        options = Options()
        options.parseOptions(
            [
                "--listen",
                f"ssl:0:privateKey={quoteStringArgument(key)}:"
                f"certKey={quoteStringArgument(cert)}{extra}",
                "--database",
                self.mktemp() + ".sqlite3",
            ]
        )
        service = makeService(options, reactor=reactor)
        [listener] = [s for s in service if isinstance(s, StreamServerEndpointService)]
        listener.endpoint.listen(ChatFactory(service.core))
        [(_, tls, _, _)] = reactor.tcpServers
        assert isinstance(tls, TLSFactory)
        assert isinstance(tls.options, ssl.CertificateOptions)
        context: SSL.Context = tls.options.getContext()
        return context

    def test_tls12_aead_only(self) -> None:
        """
        On TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 is accepted; a
        client that offers only CBC suites is refused.  (The test
        certificate is ECDSA.)
        """
        server = self.server_context()
        for suite in (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ):
            self.assertEqual(handshake(server, tls_client(suite)), suite)
        for suite in (
            "ECDHE-ECDSA-AES128-SHA",
            "ECDHE-ECDSA-AES256-SHA",
            "ECDHE-ECDSA-AES128-SHA256",
            "ECDHE-ECDSA-AES256-SHA384",
        ):
            self.assertIsNone(handshake(server, tls_client(suite)), suite)

    def test_tls13_and_old_versions(self) -> None:
        """
        TLS 1.3 is accepted; TLS 1.1 and older are not.
        """
        server = self.server_context()
        self.assertIsNotNone(
            handshake(server, tls_client(maximum=stdlib_ssl.TLSVersion.TLSv1_3))
        )
        self.assertIsNone(
            handshake(server, tls_client("ALL", maximum=stdlib_ssl.TLSVersion.TLSv1_1))
        )

    def test_description_cannot_weaken(self) -> None:
        """
        An C{sslmethod} in the description does not bring old versions
        back.
        """
        server = self.server_context(":sslmethod=TLS_METHOD")
        self.assertIsNone(handshake(server, tls_client("ECDHE-ECDSA-AES128-SHA")))
        self.assertIsNone(
            handshake(server, tls_client("ALL", maximum=stdlib_ssl.TLSVersion.TLSv1_1))
        )


class ConnectionOptionsTests(TestCase):
    """
    The options of issue 15: per-address limits, C{--exempt}, deadlines,
    the descriptor limit, and a port in use.
    """

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--database", self.mktemp() + ".sqlite3", *argv])
        return options

    def test_defaults(self) -> None:
        """
        16 connections per address, 30 a minute, 30 s for a name, 10 s for
        a TLS handshake, and no network exempt, not even loopback.
        """
        options = self.parse()
        self.assertEqual(options["connections-per-address"], 16)
        self.assertEqual(options["connections-per-minute"], 30)
        self.assertEqual(options["name-timeout"], 30.0)
        self.assertEqual(options["tls-handshake-timeout"], 10.0)
        self.assertEqual(options["exempt"], [])
        service = makeService(options, reactor=MemoryReactorClock())
        self.assertFalse(service.core.admission.is_exempt("127.0.0.1"))

    def test_given(self) -> None:
        """
        The options reach the core and the door; C{--exempt} may be
        repeated, IPv4 and IPv6.
        """
        options = self.parse(
            "--connections-per-address",
            "3",
            "--connections-per-minute",
            "4",
            "--name-timeout",
            "5.5",
            "--tls-handshake-timeout",
            "2",
            "--exempt",
            "127.0.0.0/8",
            "--exempt",
            "2001:db8::/32",
        )
        service = makeService(options, reactor=MemoryReactorClock())
        limits = service.core.limits
        self.assertEqual(limits.connections_per_address, 3)
        self.assertEqual(limits.connections_per_minute, 4)
        self.assertEqual(limits.name_timeout, 5.5)
        admission = service.core.admission
        self.assertTrue(admission.is_exempt("127.0.0.2"))
        self.assertTrue(admission.is_exempt("2001:db8:1::7"))
        self.assertFalse(admission.is_exempt("10.0.0.1"))
        [factory] = {
            listener.factory
            for listener in service
            if isinstance(listener, StreamServerEndpointService)
        }
        assert isinstance(factory, ChatFactory)
        self.assertEqual(factory.handshake_timeout, 2.0)

    def test_bad_values(self) -> None:
        """
        A network that is none, or numbers that are not positive, are usage
        errors.
        """
        for argv in (
            ["--exempt", "10.0.0.1/8"],
            ["--exempt", "everyone"],
            ["--exempt", "::/129"],
            ["--connections-per-address", "0"],
            ["--connections-per-minute", "-1"],
            ["--name-timeout", "0"],
            ["--name-timeout", "nan"],
            ["--tls-handshake-timeout", "inf"],
        ):
            self.assertRaises(UsageError, self.parse, *argv)

    async def test_descriptor_limit(self) -> None:
        """
        At start the descriptor limit is raised, and the core is told it.
        """
        options = self.parse()
        reactor = MemoryReactorClock()
        service = makeService(options, reactor=reactor)
        service._descriptor_limit = lambda: 4321
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(service.core.admission.descriptors, 4321)
        assert service.ready is not None
        await service.ready

    def test_raise_descriptor_limit(self) -> None:
        """
        L{raise_descriptor_limit} raises the soft limit to the hard one,
        logs it, and returns it; an unlimited one is no limit.
        """
        limits = {"now": (1024, 4096)}
        set_to: list[tuple[int, int]] = []

        def getrlimit(which: int) -> tuple[int, int]:
            self.assertEqual(which, resource.RLIMIT_NOFILE)
            return limits["now"]

        def setrlimit(which: int, value: tuple[int, int]) -> None:
            set_to.append(value)
            limits["now"] = value

        self.patch(resource, "getrlimit", getrlimit)
        self.patch(resource, "setrlimit", setrlimit)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertEqual(raise_descriptor_limit(), 4096)
        self.assertEqual(set_to, [(4096, 4096)])
        self.assertIn("raised the descriptor limit", str(events[-1]["log_format"]))
        limits["now"] = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        self.assertIsNone(raise_descriptor_limit())

    async def test_port_in_use(self) -> None:
        """
        A listener that cannot listen: one critical line that says where
        and why (not the store), the reactor stops, and the process is to
        exit with status 1.
        """
        options = self.parse("--listen", "tcp:4040:interface=127.0.0.1")
        reactor = MemoryReactorClock()
        statuses: list[int] = []
        service = makeService(options, reactor=reactor)
        service._exit_status = statuses.append
        for listener in list(service):
            if isinstance(listener, StreamServerEndpointService):
                listener.disownServiceParent()
        in_use = CannotListenError("127.0.0.1", 4040, OSError(98, "in use"))
        busy = StreamServerEndpointService(_Busy(in_use), ChatFactory(service.core))
        busy._raiseSynchronously = True
        busy.setServiceParent(service)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.ready is not None
        await service.ready
        self.assertEqual(statuses, [1])
        self.assertEqual(service.exit_status, 1)
        self.assertFalse(reactor.running)
        [line] = [e for e in events if e.get("log_level") is LogLevel.critical]
        text = formatEvent(line)
        self.assertEqual(
            text, "cannot listen on 127.0.0.1:4040: [Errno 98] in use; stopping"
        )
        self.assertNotIn("log_failure", line)
        self.assertFalse([e for e in events if "store" in formatEvent(e)])


@implementer(IStreamServerEndpoint)
class _Busy:
    """
    An endpoint whose port is in use.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error

    def listen(self, factory: object) -> Deferred[IListeningPort]:
        return fail(self.error)


class WebOptionsTests(TestCase):
    """
    The web door's options (issue 17): C{--web}, C{--no-web},
    C{--web-origin}, C{--web-ping}.
    """

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_default(self) -> None:
        """
        The web client is served on tcp:8080 beside the line listener,
        whatever C{--listen} says, unless C{--no-web}.
        """
        self.assertEqual(self.parse()["web"], ["tcp:8080"])
        self.assertEqual(self.parse("--listen", "tcp:4040")["web"], ["tcp:8080"])
        self.assertEqual(self.parse("--no-web")["web"], [])
        self.assertEqual(self.parse()["web-ping"], 30.0)

    def test_repeated(self) -> None:
        """
        C{--web} may be repeated; given, the default is not added.
        """
        options = self.parse("--web", "tcp:1", "--web", "tcp:2")
        self.assertEqual(options["web"], ["tcp:1", "tcp:2"])

    def test_contradiction(self) -> None:
        """
        C{--web} with C{--no-web} is refused.
        """
        self.assertRaises(UsageError, self.parse, "--web", "tcp:1", "--no-web")

    def test_origins(self) -> None:
        """
        Origins are kept lower-cased without a trailing slash; anything
        that is not C{scheme://host[:port]} is refused at start.
        """
        options = self.parse(
            "--web-origin", "HTTPS://Chat.Example.org/", "--web-origin", "http://a:8"
        )
        self.assertEqual(
            options["web-origin"], ["https://chat.example.org", "http://a:8"]
        )
        for bad in (
            "chat.example.org",
            "ftp://x",
            "https://",
            "https://x/path",
            "https://u@x",
            "https://x?q",
            "https://é.example",
            "https://x\x1b",
        ):
            self.assertRaises(UsageError, self.parse, "--web-origin", bad)

    def test_bad_ping(self) -> None:
        """
        The ping interval is a positive number of seconds.
        """
        for bad in ("0", "-1", "x", "inf"):
            self.assertRaises(UsageError, self.parse, "--web-ping", bad)

    async def test_services(self) -> None:
        """
        Every C{--web} becomes a listener of one site whose door has the
        options; an C{ssl:} one gets the line door's TLS options.
        """
        reactor = MemoryReactorClock()
        cert, key = make_certificate(self.mktemp())
        options = self.parse(
            "--web",
            "tcp:0:interface=127.0.0.1",
            "--web",
            f"ssl:0:privateKey={quoteStringArgument(key)}:"
            f"certKey={quoteStringArgument(cert)}",
            "--web-origin",
            "https://other.example",
            "--web-ping",
            "7",
            "--max-line-length",
            "100",
            "--database",
            self.mktemp() + ".sqlite3",
        )
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.ready is not None
        await service.ready
        web = [s for s in service if isinstance(s, WebService)]
        self.assertEqual(len(web), 2)
        self.assertIs(web[0].site, web[1].site)
        door = web[0].door
        self.assertEqual(door.origins, frozenset({"https://other.example"}))
        self.assertEqual((door.ping_interval, door.max_size), (7.0, 100))
        self.assertIsNotNone(door.files)
        [(_, site, _, _)] = [s for s in reactor.tcpServers if isinstance(s[1], Site)]
        self.assertIs(site, web[0].site)
        [(_, ssl_site, context_factory, _, _)] = reactor.sslServers
        self.assertIs(ssl_site, site)
        context: SSL.Context = context_factory.getContext()
        # CBC suites are refused: the line door's TLS options, not Twisted's.
        self.assertIsNone(handshake(context, tls_client("ECDHE-ECDSA-AES128-SHA")))
        suite = "ECDHE-ECDSA-AES128-GCM-SHA256"
        self.assertEqual(handshake(context, tls_client(suite)), suite)


class BacklogTests(TestCase):
    """
    The listen backlog (issue 18): every stream listener gets C{--backlog},
    or the kernel's most, unless its description names its own.
    """

    def listeners(self, *argv: str) -> list[tuple[int, int]]:
        """
        (port, backlog) of each listener the service makes from C{argv},
        once listening.
        """
        reactor = MemoryReactorClock()
        cert, key = make_certificate(self.mktemp())
        options = Options()
        options.parseOptions(["--database", self.mktemp() + ".sqlite3", *argv])
        service = makeService(options, reactor=reactor)
        for listener in service:
            if isinstance(listener, StreamServerEndpointService):
                listener.endpoint.listen(ChatFactory(service.core))
        return [(port, backlog) for port, _, backlog, _ in reactor.tcpServers]

    def tls(self, port: int, extra: str = "") -> str:
        cert, key = make_certificate(self.mktemp())
        return (
            f"ssl:{port}:privateKey={quoteStringArgument(key)}:"
            f"certKey={quoteStringArgument(cert)}{extra}"
        )

    def test_default(self) -> None:
        """
        Without C{--backlog}, plain and TLS listeners ask for what the
        kernel allows, not Twisted's 50.
        """
        expected = kernel_backlog()
        self.assertGreater(expected, 50)
        self.assertEqual(
            self.listeners("--listen", "tcp:4040", "--listen", self.tls(4041)),
            [(4040, expected), (4041, expected)],
        )

    def test_given(self) -> None:
        """
        C{--backlog N} reaches every listener; a description's own
        C{backlog=} wins for that listener.
        """
        self.assertEqual(
            self.listeners(
                "--backlog",
                "300",
                "--listen",
                "tcp:4040",
                "--listen",
                "tcp:4042:backlog=7",
                "--listen",
                self.tls(4041),
                "--listen",
                self.tls(4043, ":backlog=9"),
            ),
            [(4040, 300), (4042, 7), (4041, 300), (4043, 9)],
        )

    def test_bad(self) -> None:
        """
        A backlog that is not a positive number is a usage error.
        """
        for value in ("0", "-5", "many"):
            self.assertRaises(UsageError, Options().parseOptions, ["--backlog", value])

    def test_kernel_backlog(self) -> None:
        """
        L{kernel_backlog} reads C{net.core.somaxconn}, and falls back to
        Linux's default where it cannot.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("321\n")
        self.assertEqual(kernel_backlog(path), 321)
        with open(path, "w") as f:
            f.write("garbage\n")
        self.assertEqual(kernel_backlog(path), 4096)
        self.assertEqual(kernel_backlog(self.mktemp()), 4096)


class SessionTicketTests(TestCase):
    """
    TLS listeners issue session tickets (issue 18): a client that comes back
    resumes, with no new certificate exchange.
    """

    def test_resumes(self) -> None:
        """
        A TLS 1.3 client that offers the ticket of its first connection has
        its second one resumed.
        """
        cert, key = make_certificate(self.mktemp())
        given = ssl.PrivateCertificate.loadPEM(
            open(cert).read() + open(key).read()
        ).options()
        server = tls_options(given).getContext()
        client = tls_client(maximum=stdlib_ssl.TLSVersion.TLSv1_3)
        first = connect_in_memory(server, client, None)
        self.assertFalse(first.session_reused)
        assert first.session is not None
        self.assertTrue(first.session.has_ticket)
        second = connect_in_memory(server, client, first.session)
        self.assertTrue(second.session_reused)


def connect_in_memory(
    server: SSL.Context,
    client: stdlib_ssl.SSLContext,
    session: stdlib_ssl.SSLSession | None,
) -> stdlib_ssl.SSLObject:
    """
    A TLS connection in memory from C{client} (offering C{session}) to
    C{server}, with one line each way so the client reads its tickets.
    """
    accepted = SSL.Connection(server, None)
    accepted.set_accept_state()
    incoming, outgoing = stdlib_ssl.MemoryBIO(), stdlib_ssl.MemoryBIO()
    connecting = client.wrap_bio(
        incoming, outgoing, server_hostname="localhost", session=session
    )
    for _ in range(10):
        try:
            connecting.do_handshake()
            break
        except stdlib_ssl.SSLWantReadError:
            pass
        accepted.bio_write(outgoing.read())
        try:
            accepted.do_handshake()
        except SSL.WantReadError:
            pass
        incoming.write(accepted.bio_read(65536))
    connecting.write(b"hello\n")
    accepted.bio_write(outgoing.read())
    accepted.recv(100)
    accepted.send(b"hi\n")
    incoming.write(accepted.bio_read(65536))
    connecting.read(100)
    return connecting
