"""
Tests for L{chat.lines._socket}: the line door's use of Twisted's private
transport attributes, on real sockets.

If a Twisted upgrade moves the attributes these read, or changes what
they mean, L{PrivateTests} fails here rather than the server misbehaving.
"""

from __future__ import annotations

import select
import socket

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.tcp import Connection
from twisted.internet.testing import (
    MemoryReactor,
    MemoryReactorClock,
    StringTransport,
)
from twisted.trial.unittest import SynchronousTestCase

from chat.core.core import ChatCore
from chat.lines._socket import PRIVATE_ATTRIBUTES, is_socket, pending_output, send_now
from chat.lines.factory import ChatFactory
from chat.lines.output import HIGH_WATER
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from tests.support import fake_hasher


class PrivateTests(SynchronousTestCase):
    """
    The attributes L{chat.lines._socket} reads are where it expects them.
    """

    def setUp(self) -> None:
        # AF_UNIX: what the socket takes is readable by the peer at once, so
        # what the peer can read is exactly what was sent.
        ours, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.peer.setblocking(False)
        self.addCleanup(ours.close)
        self.addCleanup(self.peer.close)
        self.sock = ours
        self.transport = Connection(ours, Protocol(), MemoryReactor())
        self.transport.connected = True

    def peer_drains(self) -> int:
        """
        Read all the peer can read now: how many bytes.
        """
        count = 0
        while True:
            try:
                got = self.peer.recv(1 << 20)
            except BlockingIOError:
                return count
            if not got:
                return count
            count += len(got)

    def test_attributes_exist(self) -> None:
        """
        A Twisted socket transport has every private attribute read.
        """
        missing = [a for a in PRIVATE_ATTRIBUTES if not hasattr(self.transport, a)]
        self.assertEqual(
            missing,
            [],
            f"Twisted's tcp.Connection no longer has {missing}: "
            "chat/lines/_socket.py must be updated for this Twisted",
        )

    def test_pending_output(self) -> None:
        """
        What is queued by C{write} and not yet sent is counted; other
        transports have no such count.
        """
        self.assertTrue(is_socket(self.transport))
        self.assertEqual(pending_output(self.transport), 0)
        self.transport.write(b"12345")
        self.assertEqual(pending_output(self.transport), 5)
        self.assertFalse(is_socket(StringTransport()))
        self.assertIsNone(pending_output(StringTransport()))

    def test_pending_output_is_unsent(self) -> None:
        """
        L{pending_output} is what was written and not yet sent, also with
        all three attributes it reads in use: C{dataBuffer} being sent from
        C{offset} on, and writes since then counted in C{_tempDataLen}.
        """
        transport = self.transport
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        # More than the socket takes at once, and than one send is given.
        data = bytes(range(256)) * (4 * transport.SEND_LIMIT // 256)
        transport.write(data)
        written, sent = len(data), 0
        self.assertEqual(pending_output(transport), written)
        transport.doWrite()
        transport.write(b"more")
        written += 4
        sent += self.peer_drains()
        self.assertTrue(0 < transport.offset < len(transport.dataBuffer))
        self.assertEqual(transport._tempDataLen, 4)
        self.assertEqual(pending_output(transport), written - sent)
        while sent < written:
            transport.doWrite()
            got = self.peer_drains()
            self.assertTrue(got, f"stalled after {sent} bytes")
            sent += got
            self.assertEqual(pending_output(transport), written - sent)


class PeerConnection(Connection):
    """
    Twisted's socket transport with the addresses a server connection has.
    """

    def getPeer(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 1)

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 2)


class SendNowTests(SynchronousTestCase):
    """
    L{send_now} writes to a socket at once when nothing is queued, and
    queues behind whatever is; the line door uses it on sockets.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactor()
        ours, self.peer = socket.socketpair()
        ours.setblocking(False)
        self.peer.setblocking(False)
        self.addCleanup(ours.close)
        self.addCleanup(self.peer.close)
        self.sock = ours
        self.transport = Connection(ours, Protocol(), self.reactor)
        self.transport.connected = True

    def peer_reads(self, wait: float = 5.0) -> bytes:
        """
        What the peer can read within C{wait} seconds (loopback TCP may
        take a moment); C{wait=0} where nothing should have been sent.
        """
        readable, _, _ = select.select([self.peer], [], [], wait)
        return self.peer.recv(1 << 20) if readable else b""

    def test_sent_at_once(self) -> None:
        send_now(self.transport, b"hello\n")
        self.assertEqual(self.peer_reads(), b"hello\n")
        self.assertEqual(self.reactor.writers, set())

    def test_behind_queued_data(self) -> None:
        self.transport.write(b"first\n")
        send_now(self.transport, b"second\n")
        self.assertEqual(self.peer_reads(wait=0), b"")
        self.transport.doWrite()
        self.assertEqual(self.peer_reads(), b"first\nsecond\n")

    def test_rest_queued(self) -> None:
        """
        What the socket does not take is queued, and sent in order when
        the socket can take it.
        """
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        data = bytes(range(256)) * 4096
        send_now(self.transport, data)
        self.assertIn(self.transport, self.reactor.writers)
        received = b""
        while len(received) < len(data):
            got = self.peer_reads()
            self.assertTrue(got, f"stalled after {len(received)} bytes")
            received += got
            self.transport.doWrite()
        self.assertEqual(received, data)

    def test_protocol_sends_at_once(self) -> None:
        """
        L{ChatProtocol} on a socket transport sends without asking the
        reactor to watch the socket.
        """
        # A loopback TCP pair: ChatProtocol sets TCP_NODELAY on its socket.
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.peer = socket.create_connection(listener.getsockname())
            ours, _ = listener.accept()
        ours.setblocking(False)
        self.addCleanup(ours.close)
        self.addCleanup(self.peer.close)
        clock = Clock()
        core = ChatCore(clock, MemoryStore(), MemorySpool(), fake_hasher())
        factory = ChatFactory(core)
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = PeerConnection(ours, protocol, self.reactor)
        transport.connected = True
        protocol.makeConnection(transport)
        self.assertIn(b"name", self.peer_reads())
        protocol.dataReceived(b"alice\n")
        clock.advance(0)  # the end of the turn
        self.assertIn(b"Hello alice", self.peer_reads())
        self.assertEqual(self.reactor.writers, set())

    def test_send_fails(self) -> None:
        """
        When C{send} fails the data goes to C{write}, which finds the error
        for itself.
        """
        self.sock.shutdown(socket.SHUT_WR)
        written: list[bytes] = []
        self.transport.write = written.append  # type: ignore[method-assign]
        send_now(self.transport, b"lost\n")
        self.assertEqual(written, [b"lost\n"])

    def test_closing(self) -> None:
        """
        Once the connection is closing or aborted, or has started TLS,
        writes go through the transport.
        """
        for attribute in ("disconnecting", "_aborting", "TLS"):
            transport = Connection(self.sock, Protocol(), self.reactor)
            transport.connected = True
            setattr(transport, attribute, True)
            written: list[bytes] = []
            transport.write = written.append  # type: ignore[method-assign]
            send_now(transport, b"late\n")
            self.assertEqual(self.peer_reads(wait=0), b"", attribute)
            self.assertEqual(written, [b"late\n"])


class SlowConsumerSocketTests(SynchronousTestCase):
    """
    A client on a real socket that stops reading is told why before it is
    cut: the line follows what the kernel took, not the whole send queue.
    """

    def test_reason_line_reaches_the_peer(self) -> None:
        """
        Past the send-queue limit, what the transport holds unsent is
        dropped and the reason line is sent after what the socket took;
        the peer reads it as its last line, and the connection is aborted
        after the grace if it does not close first.
        """
        reactor = MemoryReactorClock()
        # A loopback TCP pair (ChatProtocol sets TCP_NODELAY), with small
        # buffers so that the peer not reading shows soon.
        with socket.create_server(("127.0.0.1", 0)) as listener:
            peer = socket.socket()
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            peer.connect(listener.getsockname())
            ours, _ = listener.accept()
        ours.setblocking(False)
        peer.setblocking(False)
        self.addCleanup(ours.close)
        self.addCleanup(peer.close)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        clock = Clock()
        core = ChatCore(clock, MemoryStore(), MemorySpool(), fake_hasher())
        factory = ChatFactory(core, send_queue_limit=64 * 1024)
        stuck = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = PeerConnection(ours, stuck, reactor)
        transport.connected = True
        stuck.makeConnection(transport)
        stuck.dataReceived(b"stuck\n")
        sender = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 3))
        sender.makeConnection(StringTransport())
        sender.session.exempt = True  # it floods on purpose
        sender.dataReceived(b"sender\n")
        clock.advance(0)
        line = b"x" * 1000 + b"\n"
        for _ in range(1000):
            sender.dataReceived(line)
            clock.advance(0)
            factory.check_output()  # the periodic check, every turn here
            if stuck._overflowing:
                break
        self.assertTrue(stuck._overflowing, "never overflowed")
        self.assertTrue(transport.disconnecting)
        reason = (
            b"ERROR: you are not reading what the server sends "
            b"(over 64 KiB waiting); disconnecting.\n"
        )
        self.assertEqual(pending_output(transport), len(reason) + 1)
        received = b""
        for _ in range(1000):
            if not pending_output(transport) and received.endswith(reason):
                break
            transport.doWrite()
            select.select([peer], [], [], 5.0)
            while True:
                try:
                    got = peer.recv(1 << 20)
                except BlockingIOError:
                    break
                received += got
        self.assertTrue(received.endswith(b"\n" + reason), received[-200:])
        self.assertLess(len(received), 64 * 1024 + 2 * HIGH_WATER)
        # Only the abort is left to happen.
        self.assertEqual(
            [call.getTime() for call in clock.getDelayedCalls()],
            [clock.seconds() + stuck.OVERFLOW_GRACE],
        )
        clock.advance(stuck.OVERFLOW_GRACE)
        self.assertTrue(transport._aborting)
