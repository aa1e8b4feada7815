"""
The line door's part of the connection rules (issue 15): what a refused,
timed-out or shut-down connection is sent, and the TLS handshake deadline.
"""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import INegotiated
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from chat.core.admission import DESCRIPTOR_RESERVE
from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.events import ShuttingDown
from chat.lines.factory import ChatFactory
from chat.lines.protocol import ChatProtocol
from chat.lines.render import GREETING, encode
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from tests.support import NoDelayTransport, fake_hasher


class DoorTestCase(SynchronousTestCase):
    """
    The line door on a core with the server's default limits.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.core = ChatCore(self.clock, MemoryStore(), MemorySpool(), fake_hasher())
        self.successResultOf(self.core.start())
        self.factory = ChatFactory(self.core, handshake_timeout=10.0)
        self.port = 40000

    def connect(
        self, host: str = "127.0.0.1", tls: bool = False
    ) -> tuple[ChatProtocol, NoDelayTransport]:
        """
        A new connection from C{host}, TLS (a transport that says it
        negotiates) if C{tls}.
        """
        self.port += 1
        address = IPv4Address("TCP", host, self.port)
        protocol = self.factory.buildProtocol(address)
        transport = NoDelayTransport(peerAddress=address)
        if tls:
            directlyProvides(transport, INegotiated)
        protocol.makeConnection(transport)
        return protocol, transport


class RefusedTests(DoorTestCase):
    """
    A refused connection gets one reason line and is closed.
    """

    def test_per_address(self) -> None:
        """
        With the defaults, loopback included, the 17th connection from one
        address is sent only the reason, and closed.
        """
        limit = Limits().connections_per_address
        for _ in range(limit):
            _, transport = self.connect()
            self.assertEqual(transport.value(), GREETING.encode() + b"\r\n")
        _, refused = self.connect()
        self.assertEqual(
            refused.value(),
            b"ERROR: too many connections from your address; at most 16 at "
            b"once: close one and try again.\r\n",
        )
        self.assertTrue(refused.disconnecting)
        _, other = self.connect("192.0.2.7")
        self.assertFalse(other.disconnecting)

    def test_lines_after_refusal(self) -> None:
        """
        What a refused client sends anyway is not acted on.
        """
        for _ in range(Limits().connections_per_address):
            self.connect()
        protocol, refused = self.connect()
        refused.clear()
        protocol.dataReceived(b"alice\r\n/users\r\n")
        self.clock.advance(0)
        self.assertEqual(refused.value(), b"")
        self.assertEqual(self.core.presence.names(), [])

    def test_closed_frees_the_place(self) -> None:
        """
        A connection that closes no longer counts.
        """
        first, _ = self.connect()
        for _ in range(Limits().connections_per_address - 1):
            self.connect()
        first.connectionLost()
        _, transport = self.connect()
        self.assertFalse(transport.disconnecting)

    def test_near_descriptor_limit(self) -> None:
        """
        Near the descriptor limit a new connection is told the server is
        full, and closed.
        """
        self.core.admission.descriptors = DESCRIPTOR_RESERVE + 1
        self.connect()
        _, refused = self.connect("192.0.2.9")
        self.assertEqual(
            refused.value(),
            b"ERROR: the server has as many connections as it can take; "
            b"please try again in a few minutes.\r\n",
        )
        self.assertTrue(refused.disconnecting)


class NameDeadlineTests(DoorTestCase):
    """
    A connection gives its name within C{name_timeout} seconds.
    """

    def test_timeout(self) -> None:
        """
        Thirty seconds without a name: the reason, then the connection
        closes; nothing delivered later is sent.
        """
        _, transport = self.connect()
        transport.clear()
        self.clock.advance(30)
        self.assertEqual(
            transport.value(),
            b"ERROR: registration timeout: no name was given within 30 "
            b"seconds; connect again when you are ready.\r\n",
        )
        self.assertTrue(transport.disconnecting)

    def test_json(self) -> None:
        """
        In JSON mode the reason is an error object with its code.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"/mode json\n")
        transport.clear()
        self.clock.advance(30)
        error = json.loads(transport.value())
        self.assertEqual(error["type"], "error")
        self.assertEqual(error["code"], "registration-timeout")

    def test_named_in_time(self) -> None:
        """
        A name given in time keeps the connection open.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"alice\r\n")
        self.clock.advance(3600)
        self.assertFalse(transport.disconnecting)


class HandshakeDeadlineTests(DoorTestCase):
    """
    A TLS peer finishes its handshake within C{handshake_timeout} seconds.
    """

    def test_stalled(self) -> None:
        """
        A handshake not done after ten seconds: the connection is dropped
        (there is no way to tell the peer).
        """
        _, transport = self.connect(tls=True)
        self.clock.advance(9.9)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)

    def test_completed(self) -> None:
        """
        A handshake done in time keeps the connection.
        """
        protocol, transport = self.connect(tls=True)
        self.clock.advance(5)
        protocol.handshakeCompleted()
        protocol.dataReceived(b"alice\r\n")
        self.clock.advance(3600)
        self.assertFalse(transport.disconnecting)

    def test_lost_cancels(self) -> None:
        """
        A connection lost before its handshake leaves no call behind.
        """
        protocol, _ = self.connect(tls=True)
        protocol.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_plain(self) -> None:
        """
        Plain TCP has no handshake to wait for: only the name deadline.
        """
        protocol, _ = self.connect()
        protocol.dataReceived(b"alice\r\n")
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ShutdownTests(DoorTestCase):
    """
    At shutdown every user is told, then its connection closes.
    """

    def test_rendered(self) -> None:
        """
        The notice in text and in JSON.
        """
        notice = ShuttingDown(1_700_000_000.0)
        self.assertEqual(
            encode(notice, "text", b"\n"),
            b"* The server is shutting down; please reconnect in a moment.\n",
        )
        obj = json.loads(encode(notice, "json", b"\n"))
        self.assertEqual(
            obj,
            {
                "type": "shutdown",
                "time": "2023-11-14T22:13:20.000Z",
                "from": None,
                "text": "* The server is shutting down; please reconnect in a moment.",
            },
        )

    def test_everyone_told_last(self) -> None:
        """
        Every connection gets the notice after what it was sent, and
        nothing after it (not the others leaving), then closes.
        """
        alice, alice_t = self.connect()
        alice.dataReceived(b"alice\r\n")
        bob, bob_t = self.connect()
        bob.dataReceived(b"bob\r\n")
        nameless, nameless_t = self.connect()
        self.clock.advance(0)
        for transport in (alice_t, bob_t, nameless_t):
            transport.clear()
        alice.dataReceived(b"last words\r\n")
        self.successResultOf(self.core.stopping())
        alice.connectionLost()
        self.clock.advance(0)
        notice = b"* The server is shutting down; please reconnect in a moment.\r\n"
        self.assertEqual(bob_t.value(), b"alice: last words\r\n" + notice)
        self.assertEqual(nameless_t.value(), notice)
        for transport in (alice_t, bob_t, nameless_t):
            self.assertTrue(transport.disconnecting)
        d = self.core.disconnected()
        self.assertNoResult(d)
        bob.connectionLost()
        self.assertNoResult(d)
        nameless.connectionLost()
        self.successResultOf(d)
