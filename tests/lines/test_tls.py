"""
Tests for L{chat.lines.tls}: the line door's TLS layer, in memory, with
pyOpenSSL clients and a real socket for the direct send.
"""

from __future__ import annotations

import socket

from OpenSSL import SSL

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.ssl import PrivateCertificate
from twisted.internet.tcp import Connection
from twisted.internet.testing import MemoryReactor, MemoryReactorClock, StringTransport

from chat.lines.protocol import ChatProtocol
from chat.lines.tls import (
    PRIVATE_ATTRIBUTES,
    TLSConnection,
    TLSFactory,
    TLSServerEndpoint,
)
from chat.tap import tls_options
from tests.support import LineTestCase, make_certificate


class Wire(StringTransport):
    """
    A transport that counts the writes it is given.
    """

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


class Client:
    """
    A TLS client in memory, connected to one server connection.
    """

    def __init__(self, server: TLSConnection, wire: Wire) -> None:
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_verify(SSL.VERIFY_NONE)
        self.tls = SSL.Connection(context, None)
        self.tls.set_connect_state()
        self.server = server
        self.wire = wire

    def from_server(self) -> None:
        data: bytes = self.wire.value()
        self.wire.clear()
        if data:
            self.tls.bio_write(data)

    def outgoing(self) -> bytes:
        try:
            data: bytes = self.tls.bio_read(1 << 20)
        except SSL.WantReadError:
            return b""
        return data

    def record(self, text: bytes) -> bytes:
        """
        C{text} encrypted as one record.
        """
        self.tls.send(text)
        return self.outgoing()

    def read(self) -> bytes:
        """
        The plaintext the server sent that was not read yet.
        """
        self.from_server()
        got = b""
        while True:
            try:
                got += self.tls.recv(1 << 16)
            except SSL.WantReadError:
                return got


class TLSConnectionTests(LineTestCase):
    """
    L{TLSConnection} under the line door: handshake, lines in, one record
    per turn out, close.
    """

    def setUp(self) -> None:
        super().setUp()
        cert, key = make_certificate(self.mktemp())
        options = PrivateCertificate.loadPEM(
            open(cert).read() + open(key).read()
        ).options()
        self.tls = TLSFactory(tls_options(options), self.factory, self.clock)

    def tls_connect(self, name: str) -> Client:
        """
        A TLS connection, its handshake done and logged in as C{name}, with
        what it was sent so far read.
        """
        self.port += 1
        server = self.tls.buildProtocol(IPv4Address("TCP", "127.0.0.1", self.port))
        assert isinstance(server, TLSConnection)
        wire = Wire(peerAddress=IPv4Address("TCP", "127.0.0.1", self.port))
        server.makeConnection(wire)
        protocol = server.wrappedProtocol
        assert isinstance(protocol, ChatProtocol)
        protocol.session.exempt = True
        client = Client(server, wire)
        for _ in range(6):
            try:
                client.tls.do_handshake()
            except SSL.WantReadError:
                pass
            hello = client.outgoing()
            if hello:
                server.dataReceived(hello)
            self.clock.advance(0)
            client.from_server()
        self.assertTrue(server._handshakeDone)
        server.dataReceived(client.record(name.encode() + b"\n"))
        self.clock.advance(0)
        self.assertIn(b"Hello " + name.encode(), client.read())
        return client

    def test_private_attributes(self) -> None:
        """
        pyOpenSSL keeps a connection's memory BIOs where L{chat.lines.tls}
        reads them.
        """
        connection = SSL.Connection(SSL.Context(SSL.TLS_METHOD), None)
        for name in PRIVATE_ATTRIBUTES:
            self.assertIsNotNone(getattr(connection, name))

    def test_one_record_per_turn(self) -> None:
        """
        What a connection is sent in one turn (here two private messages
        and a broadcast) is encrypted and written once, at its end, in
        order.
        """
        alice = self.tls_connect("alice")
        bob = self.tls_connect("bob")
        carol = self.tls_connect("carol")
        wire = carol.wire
        wire.writes = 0
        alice.server.dataReceived(alice.record(b"carol*one\n"))
        bob.server.dataReceived(bob.record(b"carol*two\n"))
        alice.server.dataReceived(alice.record(b"everyone\n"))
        self.assertEqual(wire.writes, 0)
        self.clock.advance(0)
        self.assertEqual(wire.writes, 1)
        lines = carol.read().decode().splitlines()
        self.assertEqual(
            lines, ["[private] alice: one", "[private] bob: two", "alice: everyone"]
        )

    def test_records_read_together(self) -> None:
        """
        Several records that arrive in one read are all decrypted and their
        lines handled, in order, also when the last one is incomplete.
        """
        alice = self.tls_connect("alice")
        bob = self.tls_connect("bob")
        records = b"".join(alice.record(b"bob*%d\n" % i) for i in range(5))
        alice.server.dataReceived(records[:-10])
        alice.server.dataReceived(records[-10:])
        self.clock.advance(0)
        self.assertEqual(
            bob.read().decode().splitlines(),
            [f"[private] alice: {i}" for i in range(5)],
        )

    def test_split_record(self) -> None:
        """
        A record that arrives a byte at a time is handled once whole.
        """
        alice = self.tls_connect("alice")
        bob = self.tls_connect("bob")
        for byte in alice.record(b"bob*split\n"):
            alice.server.dataReceived(bytes([byte]))
        self.clock.advance(0)
        self.assertEqual(bob.read(), b"[private] alice: split\n")

    def test_close_notify(self) -> None:
        """
        A client's close_notify is answered and the connection closes.
        """
        alice = self.tls_connect("alice")
        try:
            alice.tls.shutdown()
        except SSL.Error:
            pass
        alice.server.dataReceived(alice.outgoing())
        self.assertTrue(alice.wire.disconnecting)
        alice.from_server()
        self.assertRaises(SSL.ZeroReturnError, alice.tls.recv, 100)

    def test_send_now_on_sockets(self) -> None:
        """
        On a socket transport, records go to the socket at once rather than
        into Twisted's queue.
        """
        ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ours.close)
        self.addCleanup(peer.close)
        peer.setblocking(False)
        transport = Connection(ours, Protocol(), MemoryReactor())
        transport.connected = True
        server = self.tls.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert isinstance(server, TLSConnection)
        transport.getPeer = lambda: IPv4Address("TCP", "127.0.0.1", 1)  # type: ignore[method-assign]
        transport.setTcpNoDelay = lambda enabled: None  # type: ignore[method-assign]
        server.makeConnection(transport)
        self.assertTrue(server._direct)
        # The greeting waits for the handshake; a ClientHello gets the
        # server's flight straight into the socket.
        client = Client(server, Wire())
        try:
            client.tls.do_handshake()
        except SSL.WantReadError:
            pass
        server.dataReceived(client.outgoing())
        self.assertEqual(transport.dataBuffer, b"")
        self.assertEqual(transport._tempDataLen, 0)
        self.assertGreater(len(peer.recv(1 << 16)), 100)


class EndpointTests(LineTestCase):
    """
    L{TLSServerEndpoint} listens on TCP with the TLS layer in front.
    """

    def test_listen(self) -> None:
        """
        It listens where it was told, with its backlog, wrapping the factory
        in a L{TLSFactory} with its options.
        """
        reactor = MemoryReactorClock()
        cert, key = make_certificate(self.mktemp())
        options = tls_options(
            PrivateCertificate.loadPEM(open(cert).read() + open(key).read()).options()
        )
        endpoint = TLSServerEndpoint(reactor, 4043, options, 77, "127.0.0.1")
        self.successResultOf(endpoint.listen(self.factory))
        [(port, tls, backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, backlog, interface), (4043, 77, "127.0.0.1"))
        assert isinstance(tls, TLSFactory)
        self.assertIs(tls.wrappedFactory, self.factory)
        self.assertIs(tls.options, options)
