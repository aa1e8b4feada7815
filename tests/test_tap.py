"""
Tests for L{chat.tap} and the twistd plugin, with no sockets.
"""

from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.internet import ssl
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chat.protocol import ChatFactory
from chat.store import SQLiteStore
from chat.tap import EXPIRE_EVERY, Options, makeService
from tests.certs import make_certificate

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
        [(port, factory, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (4040, "127.0.0.1"))
        [(ssl_port, ssl_factory, context_factory, _, _)] = reactor.sslServers
        self.assertEqual(ssl_port, 55556)
        self.assertIs(ssl_factory, factory)
        self.assertIsInstance(factory, ChatFactory)
        assert isinstance(factory, ChatFactory)
        self.assertEqual(factory.max_line_length, 100)
        self.assertIs(factory.clock, reactor)
        self.assertIsInstance(context_factory, ssl.CertificateOptions)
        assert isinstance(context_factory, ssl.CertificateOptions)
        self.assertEqual(
            context_factory._defaultMinimumTLSVersion, ssl.TLSVersion.TLSv1_2
        )

    def factory(self, *argv: str) -> ChatFactory:
        """
        The factory L{makeService} builds from C{argv}, on a memory reactor;
        nothing is started.
        """
        options = Options()
        options.parseOptions([*argv, "--database", self.mktemp() + ".sqlite3"])
        return makeService(options, reactor=MemoryReactorClock()).factory

    def test_room_announce_limit(self) -> None:
        """
        The room announce limit reaches the room commands: 200 by default,
        or what C{--room-announce-limit} says (apart from the server-wide
        C{--announce-limit}).
        """
        self.assertEqual(self.factory().dispatcher.rooms.announce_limit, 200)
        factory = self.factory("--room-announce-limit", "7", "--announce-limit", "9")
        self.assertEqual(factory.dispatcher.rooms.announce_limit, 7)
        self.assertEqual(factory.dispatcher.announce_limit, 9)

    def test_coalesce(self) -> None:
        """
        The server coalesces writes: broadcasts are gathered and written
        once per connection per reactor turn, not once per message (what
        keeps a busy server's system calls down).
        """
        factory = self.factory()
        self.assertTrue(factory.coalesce)
        self.assertEqual(factory.dispatcher.fan_out, factory.fan_out_later)

    async def test_expire_and_password_pool(self) -> None:
        """
        Once the store is open, expired stored messages are deleted, and
        again every L{EXPIRE_EVERY} seconds; passwords are hashed in the
        service's own pool, which runs only while the service does.
        """
        path = self.mktemp() + ".sqlite3"
        before = SQLiteStore(path)
        await before.start()
        await before.create_account("bob", "bob", "hash", -9 * DAY)
        for text, when in (("old", -DAY - 1), ("new", -10.0)):
            await before.enqueue("bob", "al", text, when, max_count=9, max_age=9e9)
        await before.close()

        reactor = MemoryReactorClock()
        options = Options()
        options.parseOptions(["--offline-days", "1", "--database", path])
        service = makeService(options, reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.ready is not None
        await service.ready
        store = service.factory.dispatcher.store
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

        pool = service.factory.dispatcher.hasher._threadpool
        assert pool is not None
        self.assertEqual(pool.name, "txchat-passwords")
        self.assertTrue(pool.started)
        await service.stopService()
        self.assertFalse(pool.started)


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
