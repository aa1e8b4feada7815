"""
Tests for L{chat.lines.protocol} and L{chat.lines.factory}: framing,
decoding, rendering and flow control of the line door, on a core built as
the server builds it, with L{StringTransport} and L{Clock} (no sockets, no
reactor).
"""

from __future__ import annotations

import json
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from zope.interface.verify import verifyObject

from chat.core.client import IConnection
from chat.core.limits import Limits
from chat.events import Message
from chat.lines.factory import ChatFactory
from chat.lines.output import HIGH_WATER
from chat.lines.protocol import ChatProtocol
from chat.lines.render import GREETING
from chat.store.interface import StoredMessage
from tests.support import (
    FakeHasher,
    LineTestCase,
    NoDelayTransport,
    Person,
    SlowStore,
)


class SocketTransport(NoDelayTransport):
    """
    A transport with the buffer attributes of Twisted's socket transports,
    so L{ChatProtocol} takes its plain-socket path.
    """

    def __init__(self) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", 4321))
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0

    def write(self, data: bytes) -> None:
        # Nothing is ever sent: it all stays unsent, as for a stuck peer.
        super().write(data)
        self._tempDataLen += len(data)


class ConnectionTests(LineTestCase):
    """
    Connecting, greeting and leaving.
    """

    def test_provides_interface(self) -> None:
        """
        L{ChatProtocol} is an L{IConnection}.
        """
        protocol, _ = self.connect()
        self.assertTrue(verifyObject(IConnection, protocol))

    def test_greeting(self) -> None:
        """
        A new connection is asked for its name, gets TCP_NODELAY and is
        registered as the transport's producer.
        """
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = NoDelayTransport()
        protocol.makeConnection(transport)
        self.assertIn(b"name", transport.value())
        self.assertTrue(transport.value().endswith(b"\r\n"))
        self.assertTrue(transport.no_delay)
        self.assertIs(transport.producer, protocol._output)

    def test_logs_connection(self) -> None:
        """
        Each connection is logged with its address.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.connect()
        self.assertEqual(events[0]["log_format"], "connection from {peer}")
        self.assertEqual(events[0]["peer"], "127.0.0.1:40001")

    def test_connection_lost_leaves(self) -> None:
        """
        A dropped connection frees the name and tells the others.
        """
        alice, alice_t = self.connect("alice")
        bob, _ = self.connect("bob")
        alice_t.clear()
        bob.connectionLost()
        self.assertEqual(
            self.received(alice_t), ["* bob left the chat (connection closed)"]
        )
        self.assertEqual(self.core.presence.names(), ["alice"])
        carol, carol_t = self.connect()
        carol.dataReceived(b"bob\n")
        self.assertIn("Hello bob", self.received(carol_t)[0])

    def test_quit_closes_with_deadline(self) -> None:
        """
        C{/quit} closes cleanly; a peer that never completes the close is
        aborted after the grace period.
        """
        alice, transport = self.connect("alice")
        alice.dataReceived(b"/quit\n")
        self.assertEqual(self.received(transport), ["* Goodbye!"])
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.clock.advance(ChatProtocol.CLOSE_GRACE)
        self.assertTrue(transport.disconnected)

    def test_close_deadline_cancelled(self) -> None:
        """
        A connection that closes in time leaves no pending call.
        """
        alice, _ = self.connect("alice")
        alice.dataReceived(b"/quit\n")
        alice.connectionLost()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lines_after_quit_ignored(self) -> None:
        """
        Lines pipelined after C{/quit} are not acted on.
        """
        alice, _ = self.connect("alice")
        _, bob_t = self.connect("bob")
        bob_t.clear()
        alice.dataReceived(b"/quit\nafter\n")
        self.assertEqual(self.received(bob_t), ["* alice left the chat (quit)"])


class FramingTests(LineTestCase):
    """
    LF, CRLF and NUL framing, segmenting, limits and encoding.
    """

    def test_reply_terminator(self) -> None:
        """
        Each connection gets replies with the terminator of its first line.
        """
        _, lf = self.connect("lf", b"\n")
        _, crlf = self.connect("crlf", b"\r\n")
        _, nul = self.connect("nul", b"\x00")
        sender, _ = self.connect("sender")
        for transport in (lf, crlf, nul):
            transport.clear()
        sender.dataReceived(b"hi\n")
        self.clock.advance(0)
        self.assertEqual(lf.value(), b"sender: hi\n")
        self.assertEqual(crlf.value(), b"sender: hi\r\n")
        self.assertEqual(nul.value(), b"sender: hi\x00")

    def test_mixed_terminators(self) -> None:
        """
        Any terminator ends a line, whatever the first line used.
        """
        alice, _ = self.connect("alice", b"\x00")
        _, bob_t = self.connect("bob")
        alice.dataReceived(b"one\ntwo\r\nthree\x00")
        self.assertEqual(
            self.received(bob_t), ["alice: one", "alice: two", "alice: three"]
        )

    def test_pipelined(self) -> None:
        """
        A name and three messages in one segment are handled one by one.
        """
        _, bob_t = self.connect("bob")
        alice, alice_t = self.connect()
        alice.dataReceived(b"alice\r\nbob*one\r\nALL*two\r\nthree\r\n")
        self.assertEqual(
            self.received(bob_t),
            [
                "* alice just joined the server",
                "[private] alice: one",
                "alice: two",
                "alice: three",
            ],
        )
        self.assertIn("Hello alice", self.received(alice_t, b"\r\n")[0])

    def test_byte_by_byte(self) -> None:
        """
        Input split into segments of every size gives the same lines.
        """
        _, bob_t = self.connect("bob")
        payload = b"alice\r\nbob*x\x00hello there\n"
        for size in range(1, 10):
            alice, _ = self.connect()
            for i in range(0, len(payload), size):
                alice.dataReceived(payload[i : i + size])
            self.assertEqual(
                self.received(bob_t),
                [
                    "* alice just joined the server",
                    "[private] alice: x",
                    "alice: hello there",
                ],
            )
            alice.connectionLost()
            self.clock.advance(0)
            bob_t.clear()

    def test_invalid_utf8(self) -> None:
        """
        Invalid UTF-8 is refused with an error and the connection stays
        usable.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice_t.clear()
        alice.dataReceived(b"\xff\xfe oops\nfine\n")
        [error] = self.received(alice_t)
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("UTF-8", error)
        self.assertEqual(self.received(bob_t), ["alice: fine"])

    def test_invalid_utf8_name(self) -> None:
        """
        An undecodable name request is refused; the next one works.
        """
        alice, alice_t = self.connect()
        alice.dataReceived(b"\xc3\n")
        self.assertTrue(self.received(alice_t)[-1].startswith("ERROR: "))
        alice.dataReceived(b"alice\n")
        self.assertEqual(alice.session.name, "alice")

    def test_long_line_in_one_segment(self) -> None:
        """
        A line over the limit is refused and not delivered; the next is.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice_t.clear()
        alice.dataReceived(b"x" * 65 + b"\nshort\n")
        [error] = self.received(alice_t)
        self.assertTrue(error.startswith("ERROR: line too long"), error)
        self.assertIn("64 bytes", error)
        self.assertEqual(self.received(bob_t), ["alice: short"])

    def test_limit_is_inclusive(self) -> None:
        """
        A line of exactly the limit, with or without CR, is accepted.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice.dataReceived(b"y" * 64 + b"\r\n" + b"z" * 64 + b"\n")
        self.assertEqual(
            self.received(bob_t), ["alice: " + "y" * 64, "alice: " + "z" * 64]
        )

    def test_limit_one_line_per_segment(self) -> None:
        """
        Lines arriving one per segment (the common case, which skips the
        splitting machinery) obey the same limit and CR handling.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice_t.clear()
        alice.dataReceived(b"a" * 64 + b"\n")
        alice.dataReceived(b"b" * 64 + b"\r\n")
        alice.dataReceived(b"c" * 65 + b"\n")
        alice.dataReceived(b"d\r\n")
        self.assertEqual(
            self.received(bob_t),
            ["alice: " + "a" * 64, "alice: " + "b" * 64, "alice: d"],
        )
        [error] = self.received(alice_t)
        self.assertTrue(error.startswith("ERROR: line too long"), error)

    def test_long_line_across_segments(self) -> None:
        """
        An endless line is discarded as it arrives (the buffer stays
        bounded), refused once, and the connection recovers at its end.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice_t.clear()
        for _ in range(100):
            alice.dataReceived(b"a" * 50)
            framer = alice._framer
            assert framer is not None
            self.assertLessEqual(len(framer._buffer), 65 + 50)
        alice.dataReceived(b"aaa\nafter\n")
        self.assertIsNone(alice._framer, "nothing held, no framer")
        errors = self.received(alice_t)
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith("ERROR: line too long"))
        self.assertEqual(self.received(bob_t), ["alice: after"])

    def test_long_first_line(self) -> None:
        """
        An over-long name request is refused and the connection recovers.
        """
        alice, alice_t = self.connect()
        alice_t.clear()
        alice.dataReceived(b"n" * 200)
        alice.dataReceived(b"n\r\nalice\r\n")
        lines = self.received(alice_t, b"\r\n")
        self.assertTrue(lines[0].startswith("ERROR: line too long"), lines)
        self.assertIn("Hello alice", lines[1])


class RenderingTests(LineTestCase):
    """
    What connections see, in text and JSON mode.
    """

    def test_text_lines(self) -> None:
        """
        Joins, messages, private messages and errors in text mode.
        """
        alice, alice_t = self.connect("alice")
        bob, bob_t = self.connect("bob")
        self.assertEqual(self.received(alice_t), ["* bob just joined the server"])
        bob.dataReceived(b"alice*psst\n/me waves\ncarol*hi\n")
        self.assertEqual(self.received(alice_t), ["[private] bob: psst", "* bob waves"])
        self.assertEqual(
            self.received(bob_t), ["ERROR: carol is not online; /users lists who is."]
        )

    def test_same_bytes_for_everyone(self) -> None:
        """
        A broadcast is rendered once per format: recipients share the bytes.
        """
        sender, _ = self.connect("sender")
        first, first_t = self.connect("first")
        second, second_t = self.connect("second")
        written: list[bytes] = []
        for transport in (first_t, second_t):
            transport.write = written.append  # type: ignore[method-assign]
        sender.dataReceived(b"hello\n")
        self.clock.advance(0)
        self.assertEqual(written, [b"sender: hello\n"] * 2)
        self.assertIs(written[0], written[1])

    def test_json_mode(self) -> None:
        """
        In JSON mode every event is one object per line with type, sender,
        text and time; C{/mode text} switches back.
        """
        self.clock.advance(1_700_000_000.25)
        alice, alice_t = self.connect("alice")
        bob, _ = self.connect("bob")
        alice.dataReceived(b"/mode json\n")
        bob.dataReceived(b"hi there\n")
        alice.dataReceived(b"/nope\n")
        mode, message, error = [json.loads(line) for line in self.received(alice_t)[1:]]
        self.assertEqual(mode["type"], "mode")
        self.assertEqual(
            message,
            {
                "type": "message",
                "time": "2023-11-14T22:13:20.250Z",
                "from": "bob",
                "text": "hi there",
                "id": 1,
            },
        )
        self.assertEqual(error["type"], "error")
        self.assertEqual(error["code"], "unknown-command")
        alice.dataReceived(b"/mode text\n")
        bob.dataReceived(b"back\n")
        self.assertEqual(self.received(alice_t)[-1], "bob: back")


class JSONLoginTests(LineTestCase):
    """
    C{/mode json} before the name: the login exchange is JSON too.
    """

    def test_login_exchange_as_json(self) -> None:
        """
        A registered user who asks for JSON before giving its name gets the
        name and password prompts, the welcome, its stored messages and
        their count as JSON objects, and nothing as text.
        """
        bob, _ = self.connect("bob")
        bob.dataReceived(b"/register sesame1\n/quit\n")
        alice, alice_t = self.connect("alice")
        alice.dataReceived(b"bob*while you were out\n")
        self.assertIn("stored", self.received(alice_t)[-1])

        bob, bob_t = self.connect()
        bob.dataReceived(b"/mode json\n")
        bob.dataReceived(b"bob\n")
        bob.dataReceived(b"sesame1\n")
        lines = self.received(bob_t)
        events = [json.loads(line) for line in lines]
        self.assertEqual(
            [(e["type"], e.get("prompt")) for e in events],
            [
                ("mode", None),
                ("prompt", "name"),
                ("prompt", "password"),
                ("welcome", None),
                ("private", None),
                ("stored-end", None),
            ],
        )
        stored = events[4]
        self.assertEqual(
            (stored["from"], stored["text"], stored["stored"]),
            ("alice", "while you were out", True),
        )
        self.assertEqual(events[5]["count"], 1)

    def test_json_client_acknowledges(self) -> None:
        """
        A client in JSON mode from before its name acknowledges its stored
        messages itself: they stay stored however long it stays, until it
        sends C{/ack ID}, so that none is lost that it did not get.
        """
        bob, _ = self.connect("bob")
        bob.dataReceived(b"/register sesame1\n/quit\n")
        alice, _ = self.connect("alice")
        alice.dataReceived(b"bob*while you were out\n")

        bob, bob_t = self.connect()
        bob.dataReceived(b"/mode json\n")
        bob.dataReceived(b"bob\n")
        bob.dataReceived(b"sesame1\n")
        [stored] = [
            event
            for event in map(json.loads, self.received(bob_t))
            if event.get("stored")
        ]
        self.assertEqual(stored["text"], "while you were out")
        self.clock.advance(self.limits.confirm_after + 1)
        self.assertEqual([m.id for m in self.stored_for("bob")], [stored["id"]])
        bob.dataReceived(b"/ack %d\n" % stored["id"])
        self.assertEqual(self.stored_for("bob"), [])

    def stored_for(self, name: str) -> list[StoredMessage]:
        """
        The messages stored for C{name} that are not too old to send.
        """
        return self.successResultOf(
            self.store.pending(name, self.clock.seconds(), self.limits.offline_age)
        )


class FlowControlTests(LineTestCase):
    """
    A client that stops reading cannot make the server hold unbounded output.
    """

    def test_paused_keeps_reading(self) -> None:
        """
        A paused connection's input is still read (a TLS handshake pauses
        the producer and needs the peer's bytes), and what it sends is
        still relayed.
        """
        alice, alice_t = self.connect("alice")
        _, bob_t = self.connect("bob")
        alice._output.pauseProducing()
        self.assertEqual(alice_t.producerState, "producing")
        alice.dataReceived(b"still here\n")
        self.assertEqual(self.received(bob_t), ["alice: still here"])

    def test_overflow_drops_only_the_slow_client(self) -> None:
        """
        Past the send-queue limit the slow connection is told why, past
        the limit, and closed (aborted if it does not drain within
        L{ChatProtocol.OVERFLOW_GRACE}); the others are told it left, and
        keep getting every message.
        """
        slow, slow_t = self.connect("slow")
        fast, fast_t = self.connect("fast")
        # Exempt from flood control: it floods on purpose.
        sender, _ = self.connect("sender", exempt=True)
        slow_t.clear()
        fast_t.clear()
        slow._output.pauseProducing()
        for i in range(100):
            sender.dataReceived(b"message %d\n" % i)
            self.clock.advance(0)
        self.assertTrue(slow_t.disconnecting)
        self.assertFalse(slow_t.disconnected)
        reason = (
            b"ERROR: you are not reading what the server sends "
            b"(over 0 KiB waiting); disconnecting.\n"
        )
        self.assertTrue(slow_t.value().endswith(reason), slow_t.value())
        self.assertLessEqual(len(slow_t.value()), 1000 + len(reason))
        lines = self.received(fast_t)
        self.assertEqual(len(lines), 101)
        self.assertIn("* slow left the chat (send queue exceeded)", lines)
        self.clock.advance(ChatProtocol.OVERFLOW_GRACE)
        self.assertTrue(slow_t.disconnected)

    def test_hold_limit(self) -> None:
        """
        Events held while a login catches up are bounded too: past
        L{Limits.hold_max} the held connection is aborted, and the others
        keep getting every message.
        """
        self.limits = Limits(hold_max=50)
        self.make_factory()
        held, held_t = self.connect("held")
        fast, fast_t = self.connect("fast")
        sender, _ = self.connect("sender", exempt=True)
        held_t.clear()
        fast_t.clear()
        self.core.delivery.hold(held.session)
        for i in range(50):
            sender.dataReceived(b"m %d\n" % i)
        self.clock.advance(0)
        self.assertFalse(held_t.disconnected)
        sender.dataReceived(b"one too many\n")
        self.clock.advance(0)
        self.assertTrue(held_t.disconnected)
        self.assertEqual(held_t.value(), b"")
        self.assertEqual(len(self.received(fast_t)), 51)

    def test_backlog_resets_on_resume(self) -> None:
        """
        A client that catches up starts with a fresh allowance.
        """
        slow, slow_t = self.connect("slow")
        sender, _ = self.connect("sender", exempt=True)
        for _ in range(3):
            slow._output.pauseProducing()
            for i in range(40):
                sender.dataReceived(b"m %d\n" % i)
                self.clock.advance(0)
            slow._output.resumeProducing()
        self.assertFalse(slow_t.disconnected)


class SocketFlowControlTests(LineTestCase):
    """
    On plain sockets the protocol becomes the transport's producer only
    while output piles up, found by the factory's periodic check.
    """

    def connect_socket(self, name: str) -> tuple[ChatProtocol, SocketTransport]:
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4321))
        transport = SocketTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(name.encode() + b"\n")
        self.clock.advance(0)
        transport.clear()
        return protocol, transport

    def test_socket_watched(self) -> None:
        """
        On a socket transport the protocol is watched by the factory rather
        than registered as a producer.
        """
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = SocketTransport()
        protocol.makeConnection(transport)
        self.assertIn(b"name", transport.value())
        self.assertIsNone(transport.producer)
        self.assertIn(protocol._output, self.factory._watched)

    def test_backed_up_becomes_producer(self) -> None:
        """
        A connection with more than the high-water mark unsent becomes the
        transport's producer; once paused, past the send-queue limit it is
        closed and the others get every message.
        """
        slow, slow_t = self.connect_socket("slow")
        _, fast_t = self.connect("fast")
        sender, _ = self.connect("sender", exempt=True)
        self.factory.check_output()
        self.assertIsNone(slow_t.producer)
        slow_t._tempDataLen = HIGH_WATER + 1
        self.factory.check_output()
        self.assertIs(slow_t.producer, slow._output)
        slow._output.pauseProducing()  # what the transport does on its next write
        fast_t.clear()
        for i in range(100):
            sender.dataReceived(b"message %d\n" % i)
            self.clock.advance(0)
        self.assertTrue(slow_t.disconnecting)
        self.assertEqual(len(self.received(fast_t)), 101)
        self.clock.advance(ChatProtocol.OVERFLOW_GRACE)
        self.assertTrue(slow_t.disconnected)

    def test_paused_but_reading(self) -> None:
        """
        A paused socket connection that keeps sending what it is given (a
        client fetching a file faster than one buffer at a time) is not
        taken for one that stopped reading: only what it holds unsent
        counts, not everything written since it paused.
        """
        slow, slow_t = self.connect_socket("reader")
        sender, _ = self.connect("sender", exempt=True)
        slow._output.pauseProducing()
        for i in range(200):
            sender.dataReceived(b"message %d\n" % i)
            self.clock.advance(0)
            slow_t._tempDataLen = 0  # the peer read it all
        self.assertFalse(slow_t.disconnected)
        self.assertEqual(slow_t.value().count(b"sender: message"), 200)

    def test_drained_stops_being_producer(self) -> None:
        """
        Once everything is sent and the transport resumed it, the protocol
        goes back to being watched only.
        """
        slow, slow_t = self.connect_socket("slow")
        slow_t.dataBuffer = b"x" * (HIGH_WATER + 1)
        self.factory.check_output()
        slow._output.pauseProducing()
        slow_t.dataBuffer = b""
        slow_t._tempDataLen = 0
        self.factory.check_output()
        self.assertIs(slow_t.producer, slow._output, "still paused: stays registered")
        slow._output.resumeProducing()
        self.factory.check_output()
        self.assertIsNone(slow_t.producer)
        self.assertFalse(slow_t.disconnected)

    def test_check_alone_drops(self) -> None:
        """
        A connection that holds more than the limit unsent is dropped by the
        periodic check, even when nothing more is written to it (its peer
        stopped reading after the last of a burst).
        """
        slow, slow_t = self.connect_socket("slow")
        _, fast_t = self.connect("fast")
        slow_t._tempDataLen = 1000 + HIGH_WATER
        self.factory.check_output()
        self.assertFalse(slow_t.disconnected)
        slow_t._tempDataLen += 1
        self.factory.check_output()
        self.assertTrue(slow_t.disconnecting)
        self.assertIn(b"ERROR: you are not reading", slow_t.value())
        self.assertEqual(
            self.received(fast_t), ["* slow left the chat (send queue exceeded)"]
        )
        self.clock.advance(ChatProtocol.OVERFLOW_GRACE)
        self.assertTrue(slow_t.disconnected)
        slow.connectionLost()
        self.assertEqual(self.received(fast_t), [])

    def test_check_runs_while_started(self) -> None:
        """
        The check runs every L{ChatFactory.OUTPUT_CHECK_INTERVAL} seconds
        between start and stop, and a closed connection is no longer
        watched.
        """
        slow, slow_t = self.connect_socket("slow")
        self.factory.startFactory()
        slow_t._tempDataLen = HIGH_WATER + 1
        self.clock.advance(ChatFactory.OUTPUT_CHECK_INTERVAL)
        self.assertIs(slow_t.producer, slow._output)
        slow.connectionLost()
        self.assertNotIn(slow._output, self.factory._watched)
        self.factory.stopFactory()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class LogFloodTests(LineTestCase):
    """
    One client cannot make the server spend its time writing the log.
    """

    def test_refused_lines_rate_limited(self) -> None:
        """
        A client sending thousands of refused lines gets every error, but
        the log gets at most the per-second budget plus one count.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        # Exempt from flood control, which would drop it first.
        alice, alice_t = self.connect("alice", exempt=True)
        alice_t.clear()
        alice.dataReceived(b"/nope\n" * 1000)
        self.clock.advance(0)
        self.assertEqual(len(self.received(alice_t)), 1000)
        self.clock.advance(1)
        chat_events = [e for e in events if e["log_namespace"].startswith("chat.")]
        # connect + join + 98 refusals, then the count of the other 902.
        self.assertEqual(len(chat_events), 101)
        self.assertEqual(chat_events[-1]["count"], 902)


class TurnClock(Clock):
    """
    A L{Clock} that can run one turn of a reactor: L{Clock.advance} also
    runs the zero-delay calls that the calls it runs make, so it cannot
    show what each turn wrote.
    """

    def turn(self) -> None:
        """
        Run the calls due now, but not those they schedule (the reactor
        runs those in its next turn).
        """
        due = sorted(
            (call for call in self.calls if call.getTime() <= self.seconds()),
            key=lambda call: call.getTime(),
        )
        for call in due:
            if call in self.calls:  # Not cancelled by an earlier one.
                self.calls.remove(call)
                call.called = True
                call.func(*call.args, **call.kw)


class BurstTests(LineTestCase):
    """
    A burst of lines is acted on a bounded number per reactor turn.
    """

    def setUp(self) -> None:
        super().setUp()
        self.clock = TurnClock()
        self.make_factory()

    def turn_lines(self, transport: StringTransport) -> list[str]:
        """
        The lines written to C{transport} in the next turn of the reactor.
        """
        assert isinstance(self.clock, TurnClock)
        self.clock.turn()
        data: bytes = transport.value()
        transport.clear()
        return data.decode("utf-8").splitlines()

    def test_burst_spread_over_turns(self) -> None:
        """
        Lines beyond L{Limits.requests_per_turn} wait, with reading paused,
        for the next turn; every line is relayed once, in order, a turn's
        share at a time.
        """
        per_turn = self.limits.requests_per_turn
        # Exempt from flood control, which holds a burst for longer.
        alice, alice_t = self.connect("alice", exempt=True)
        _, bob_t = self.connect("bob")
        sent = [f"m{i}" for i in range(2 * per_turn + per_turn // 2)]
        alice.dataReceived("".join(f"{line}\n" for line in sent).encode() + b"tail")
        self.assertEqual(alice_t.producerState, "paused")
        alice.dataReceived(b"\nlate\n")
        relayed = [f"alice: {line}" for line in [*sent, "tail", "late"]]
        self.assertEqual(self.turn_lines(bob_t), relayed[:per_turn])
        self.assertEqual(alice_t.producerState, "paused")
        self.assertEqual(self.turn_lines(bob_t), relayed[per_turn : 2 * per_turn])
        self.assertEqual(self.turn_lines(bob_t), relayed[2 * per_turn :])
        self.assertEqual(alice_t.producerState, "producing")
        self.assertEqual(self.turn_lines(bob_t), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_burst_then_disconnect(self) -> None:
        """
        A connection lost with lines waiting leaves no pending call.
        """
        alice, _ = self.connect("alice")
        alice.dataReceived(b"x\n" * (self.limits.requests_per_turn + 5))
        alice.connectionLost()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class FanOutTests(LineTestCase):
    """
    The core's fan-out reaches the clients of other doors too.
    """

    def test_mixed_clients(self) -> None:
        """
        A client of another door on the same core gets the event object;
        line clients get the shared bytes; the sender gets nothing.
        """
        other = Person(self.core, self.clock)
        other.session.choose_name("robot")
        sender, sender_t = self.connect("sender")
        _, line_t = self.connect("line")
        other.take()
        sender_t.clear()
        line_t.clear()
        sender.dataReceived(b"hello\n")
        self.clock.advance(0)
        [event] = other.take()
        assert isinstance(event, Message)
        self.assertEqual((event.sender, event.text), ("sender", "hello"))
        self.assertEqual(line_t.value(), b"sender: hello\n")
        self.assertEqual(sender_t.value(), b"")

    def test_render_keys_shared(self) -> None:
        """
        Connections in the same mode with the same terminator share one
        render-cache key object (a string per connection would cost memory
        on big servers).
        """
        first, _ = self.connect("first")
        second, _ = self.connect("second")
        self.assertIs(first._key, second._key)


class CountingTransport(NoDelayTransport):
    """
    A L{StringTransport} that counts writes.
    """

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


class CoalescingTests(LineTestCase):
    """
    A connection's broadcasts of one reactor turn go out in one write at
    its end, in order with everything else it is sent.
    """

    def connect_counting(self, name: str) -> tuple[ChatProtocol, CountingTransport]:
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = CountingTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(name.encode() + b"\n")
        self.clock.advance(0)
        transport.clear()
        transport.writes = 0
        return protocol, transport

    def test_one_write_per_turn(self) -> None:
        """
        Three broadcasts of one turn reach a reader in one write, in order.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        b, _ = self.connect("b")
        self.clock.advance(0)
        reader_t.clear()
        reader_t.writes = 0
        for sender in (a, b, a):
            sender.dataReceived(b"hi\n")
        self.assertEqual(reader_t.value(), b"")
        self.clock.advance(0)
        self.assertEqual(self.received(reader_t), ["a: hi", "b: hi", "a: hi"])
        self.assertEqual(reader_t.writes, 1)

    def test_order_with_direct_deliveries(self) -> None:
        """
        A private message after a gathered broadcast comes after it.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        self.clock.advance(0)
        reader_t.clear()
        a.dataReceived(b"to all\nreader*just you\n")
        self.clock.advance(0)
        self.assertEqual(
            self.received(reader_t), ["a: to all", "[private] a: just you"]
        )

    def test_disconnect_writes_first(self) -> None:
        """
        What was gathered goes out before the connection closes.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        self.clock.advance(0)
        reader_t.clear()
        a.dataReceived(b"last words\n")
        reader.dataReceived(b"/quit\n")
        self.assertEqual(self.received(reader_t), ["a: last words", "* Goodbye!"])
        self.assertTrue(reader_t.disconnecting)

    def test_stop_writes_gathered(self) -> None:
        """
        Output gathered in the last turn before shutdown is written when the
        factory stops, not lost with the end-of-turn call stopFactory
        cancels.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        self.clock.advance(0)
        reader_t.clear()
        a.dataReceived(b"closing time\n")
        self.assertEqual(reader_t.value(), b"")
        self.factory.stopFactory()
        self.assertEqual(self.received(reader_t), ["a: closing time"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(0)
        self.assertEqual(reader_t.value(), b"")

    def test_catch_up_in_one_write(self) -> None:
        """
        What a login is handed at once (welcome, history) is one write.
        """
        a, _ = self.connect("a")
        a.dataReceived(b"one\ntwo\n")
        self.clock.advance(0)
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = CountingTransport()
        protocol.makeConnection(transport)
        transport.clear()
        transport.writes = 0
        protocol.dataReceived(b"late\n")
        self.clock.advance(0)
        lines = self.received(transport)
        self.assertEqual(transport.writes, 1)
        self.assertTrue(lines[0].startswith("* Hello late"), lines)
        self.assertEqual(
            [line.split("] ")[-1] for line in lines[1:3]], ["a: one", "a: two"]
        )
        self.assertEqual(len(lines), 4)

    def join_room_late(self) -> tuple[ChatProtocol, ChatProtocol, CountingTransport]:
        """
        C{a} and C{reader} in #r with one message said there; C{late}
        online but not in it.  The store answers history requests when
        C{self.slow.answer()} says, from now on.
        """
        store = SlowStore()
        store.holding = False
        self.make_factory(store)
        reader, _ = self.connect_counting("reader")
        a, _ = self.connect("a")
        late, late_t = self.connect_counting("late")
        for client in (a, reader):
            client.dataReceived(b"/join #r\n")
        a.dataReceived(b"#r*old\n")
        self.clock.advance(0)
        late_t.clear()
        store.holding = True
        self.slow = store
        return a, late, late_t

    def test_catch_up_before_what_was_said_meanwhile(self) -> None:
        """
        A room message said in the turn in which the store answers with
        the room's history comes after the join and that history.
        """
        a, late, late_t = self.join_room_late()
        late.dataReceived(b"/join #r\n")
        self.clock.advance(0)
        self.assertEqual(late_t.value(), b"")
        a.dataReceived(b"#r*during\n")
        self.slow.answer()
        self.clock.advance(0)
        lines = self.received(late_t)
        self.assertTrue(lines[0].startswith("* You joined #r"), lines)
        self.assertTrue(lines[1].endswith("#r a: old"), lines)
        self.assertEqual(lines[-1], "#r a: during")

    def test_broadcast_before_a_hold(self) -> None:
        """
        A broadcast said earlier in the turn in which a client is held for
        a catch-up reaches it before that catch-up.
        """
        a, late, late_t = self.join_room_late()
        a.dataReceived(b"main before\n")
        late.dataReceived(b"/join #r\n")
        self.slow.answer()
        self.clock.advance(0)
        lines = self.received(late_t)
        self.assertEqual(lines[0], "a: main before")
        self.assertTrue(lines[1].startswith("* You joined #r"), lines)

    def test_catch_up_order_while_paused(self) -> None:
        """
        A client whose transport is paused when its catch-up comes gets
        the catch-up, then what was said in that turn.
        """
        a, late, late_t = self.join_room_late()
        late.dataReceived(b"/join #r\n")
        self.clock.advance(0)
        late._output.pauseProducing()
        a.dataReceived(b"#r*during\n")
        self.slow.answer()
        self.clock.advance(0)
        lines = self.received(late_t)
        self.assertTrue(lines[0].startswith("* You joined #r"), lines)
        self.assertEqual(lines[-1], "#r a: during")

    def test_sender_of_the_whole_turn(self) -> None:
        """
        A client that sent every broadcast of a turn is written nothing.
        """
        reader, reader_t = self.connect_counting("reader")
        a, a_t = self.connect_counting("a")
        self.clock.advance(0)
        a_t.clear()
        a_t.writes = 0
        a.dataReceived(b"one\ntwo\n")
        self.clock.advance(0)
        self.assertEqual((a_t.writes, a_t.value()), (0, b""))
        self.assertEqual(self.received(reader_t)[-2:], ["a: one", "a: two"])

    def test_one_call_per_turn(self) -> None:
        """
        Writing a turn's output does not schedule another call for it.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        self.clock.advance(0)
        calls: list[None] = []
        write = self.factory.outputs.write

        def counted() -> None:
            calls.append(None)
            write()

        self.factory.outputs.write = counted  # type: ignore[method-assign]
        a.dataReceived(b"hi\n")
        self.clock.advance(0)
        self.assertEqual(len(calls), 1)
        self.assertIn("a: hi", self.received(reader_t))

    def test_senders_get_the_others(self) -> None:
        """
        When several broadcasts of one turn go out together, each sender
        gets the others' in order and not its own.
        """
        reader, reader_t = self.connect_counting("reader")
        a, a_t = self.connect_counting("a")
        b, b_t = self.connect_counting("b")
        self.clock.advance(0)
        for transport in (reader_t, a_t, b_t):
            transport.clear()
            transport.writes = 0
        a.dataReceived(b"a1\n")
        b.dataReceived(b"b1\n")
        a.dataReceived(b"a2\n")
        b.dataReceived(b"b2\n")
        self.clock.advance(0)
        self.assertEqual(self.received(reader_t), ["a: a1", "b: b1", "a: a2", "b: b2"])
        self.assertEqual(self.received(a_t), ["b: b1", "b: b2"])
        self.assertEqual(self.received(b_t), ["a: a1", "a: a2"])
        self.assertEqual((reader_t.writes, a_t.writes, b_t.writes), (1, 1, 1))

    def test_each_format_in_one_turn(self) -> None:
        """
        Clients in JSON mode and with other line ends get the same turn's
        broadcasts rendered their way.
        """
        crlf, crlf_t = self.connect_counting("crlf\r")
        js, js_t = self.connect_counting("js")
        js.dataReceived(b"/mode json\n")
        a, _ = self.connect("a")
        self.clock.advance(0)
        crlf_t.clear()
        js_t.clear()
        a.dataReceived(b"one\n")
        a.dataReceived(b"two\n")
        self.clock.advance(0)
        self.assertEqual(crlf_t.value(), b"a: one\r\na: two\r\n")
        events = [json.loads(line) for line in js_t.value().splitlines()]
        self.assertEqual(
            [(e["from"], e["text"]) for e in events], [("a", "one"), ("a", "two")]
        )

    def test_paused_client_in_a_turn(self) -> None:
        """
        A client whose transport is paused gets each broadcast through its
        own checks, in order with the rest of the turn.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        b, _ = self.connect("b")
        self.clock.advance(0)
        reader_t.clear()
        reader._output.pauseProducing()
        a.dataReceived(b"x\n")
        b.dataReceived(b"y\n")
        self.clock.advance(0)
        self.assertEqual(self.received(reader_t), ["a: x", "b: y"])
        self.assertEqual(reader._output._backlog, len(b"a: x\nb: y\n"))

    def test_rooms_and_everyone_interleaved(self) -> None:
        """
        Broadcasts to everyone and to a room in the same turn reach a
        member in the order they were sent.
        """
        reader, reader_t = self.connect_counting("reader")
        a, _ = self.connect("a")
        for client in (reader, a):
            client.dataReceived(b"/join #r\n")
        self.clock.advance(0)
        reader_t.clear()
        a.dataReceived(b"all 1\n#r*room\nall 2\n")
        self.clock.advance(0)
        self.assertEqual(
            self.received(reader_t), ["a: all 1", "#r a: room", "a: all 2"]
        )


class PipelinedLoginTests(LineTestCase):
    """
    A name and a password sent in one write, or a password retyped ahead,
    never become a name or a message, whatever the server answers to the
    name (issue 15).
    """

    def setUp(self) -> None:
        super().setUp()
        alice, _ = self.connect("alice")
        alice.dataReceived(b"/register sesame1\n/quit\n")
        self.bob, self.bob_t = self.connect("bob")
        self.received(self.bob_t)
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    @property
    def hasher(self) -> FakeHasher:
        return cast(FakeHasher, self.core.hashing._hasher)

    def throttle(self) -> None:
        """
        Five wrong passwords for alice.
        """
        for _ in range(5):
            client, _ = self.connect()
            client.dataReceived(b"alice\nwrong99\n")

    def assertNoLeak(self, *transports: StringTransport) -> None:
        """
        The password never went anywhere: not to bob, not back, not to
        the log, and nobody called itself by it.
        """
        self.assertEqual(self.received(self.bob_t), [])
        for transport in transports:
            self.assertNotIn(b"Hunter2", transport.value())
        self.assertNotIn("Hunter2", repr(list(self.events)))
        self.assertEqual(self.core.presence.names(), ["bob"])

    def test_after_throttle(self) -> None:
        """
        A throttled name is asked for its password; the password pipelined
        after it is taken as the password, refused unchecked, and a line
        after it is discarded.
        """
        self.throttle()
        checked = len(self.hasher.checked)
        client, transport = self.connect()
        client.dataReceived(b"alice\nHunter2secret\nHunter2secret\n")
        self.assertEqual(
            self.received(transport),
            [
                "* alice is a registered name; enter its password.",
                "* Warning: this connection is not encrypted, so the password "
                "travels in clear; connect with TLS to keep it safe.",
                "Password:",
                "ERROR: too many wrong passwords; try again in 61 seconds. "
                "What you sent after it was discarded.",
                GREETING,
            ],
        )
        self.assertEqual(len(self.hasher.checked), checked)
        self.assertNoLeak(transport)
        client.dataReceived(b"carol\n")
        self.assertIn("Hello carol", self.received(transport)[0])

    @settings(max_examples=60)
    @given(st.lists(st.integers(0, 40), max_size=6), st.booleans())
    def test_any_segmenting_after_throttle(
        self, cuts: list[int], as_json: bool
    ) -> None:
        """
        However the name and password of a throttled name are cut into
        reads, the password is read as the password and goes nowhere.
        """
        if not self.core.accounts._name_tries.wait("alice"):
            self.throttle()
        client, transport = self.connect()
        if as_json:
            client.dataReceived(b"/mode json\r\n")
        stream = b"alice\r\nHunter2secret\r\n"
        points = sorted({c % (len(stream) + 1) for c in cuts})
        for start, end in zip([0, *points], [*points, len(stream)], strict=True):
            if end > start:
                client.dataReceived(stream[start:end])
        output = "\n".join(self.received(transport, b"\r\n")[-2:])
        self.assertIn("too many wrong passwords", output)
        self.assertNoLeak(transport)
        client.connectionLost()

    def test_after_refused_names(self) -> None:
        """
        After an invalid, reserved or taken name, the password pipelined
        after it is discarded, never taken for a name or a message.
        """
        for name in (b"grace ", b"ALL", b"BOB"):
            client, transport = self.connect()
            client.dataReceived(name + b"\r\nHunter2secret\r\n")
            [error] = self.received(transport, b"\r\n")
            self.assertTrue(error.startswith("ERROR: "), error)
            self.assertTrue(error.endswith(" What you sent after it was discarded."))
            self.assertNoLeak(transport)

    def test_retyped_password(self) -> None:
        """
        A password retyped after a wrong one, in the same write, is
        discarded: it is not the next name.
        """
        client, transport = self.connect()
        client.dataReceived(b"alice\nHunter2wrong\nHunter2secret\n")
        lines = self.received(transport)
        self.assertEqual(
            lines[-2:],
            [
                "ERROR: wrong password for alice; enter a name again. "
                "What you sent after it was discarded.",
                GREETING,
            ],
        )
        self.assertNoLeak(transport)

    def test_retyped_while_checked(self) -> None:
        """
        What the door holds unread while a password is checked is
        discarded when it turns out wrong.
        """
        self.hasher.holding = True
        client, transport = self.connect()
        client.dataReceived(b"alice\nHunter2wrong\n")
        # The door goes on reading while the password is checked: on a
        # socket, a retyped password must not wait in the kernel to be
        # read as a name once the check is over (issue 15).
        self.assertEqual(transport.producerState, "producing")
        client.dataReceived(b"Hunter2secret\n")
        self.hasher.answer()
        self.assertIn(
            "What you sent after it was discarded.", self.received(transport)[-2]
        )
        self.assertNoLeak(transport)
        self.assertEqual(transport.producerState, "producing")

    def test_read_ahead_bounded(self) -> None:
        """
        What the door holds while a password is checked is bounded: past
        a line's length it stops reading until the check is over.
        """
        self.hasher.holding = True
        client, transport = self.connect()
        client.dataReceived(b"alice\nHunter2wrong\n")
        client.dataReceived(b"x" * 20 + b"\n")
        self.assertEqual(transport.producerState, "producing")
        client.dataReceived(b"y" * self.factory.max_line_length + b"\n")
        self.assertEqual(transport.producerState, "paused")
        self.hasher.answer()
        self.assertEqual(transport.producerState, "producing")
        self.assertNoLeak(transport)

    def test_partial_line_ahead(self) -> None:
        """
        A line sent ahead in part is discarded up to its end, which comes
        later; what follows it is new input.
        """
        client, transport = self.connect()
        client.dataReceived(b"grace \nHunter2se")
        client.dataReceived(b"cret\ncarol\n")
        lines = self.received(transport)
        self.assertTrue(lines[0].startswith("ERROR: "))
        self.assertIn("Hello carol", lines[1])
        self.assertEqual(self.core.presence.names(), ["bob", "carol"])

    def test_later_read_is_new_input(self) -> None:
        """
        A refused name with nothing sent ahead says nothing of discarding,
        and the next read is the next name.
        """
        client, transport = self.connect()
        client.dataReceived(b"grace \n")
        self.assertEqual(
            self.received(transport),
            [
                "ERROR: a name cannot contain spaces, '*', ':' or control characters;"
                " please choose another name."
            ],
        )
        client.dataReceived(b"grace\n")
        self.assertIn("Hello grace", self.received(transport)[0])

    def test_whole_line_fast_path(self) -> None:
        """
        A read that is one whole line still takes no framer.
        """
        client, transport = self.connect()
        client.dataReceived(b"grace \n")
        self.assertIsNone(client._framer)
        client.dataReceived(b"carol\n")
        self.assertIsNone(client._framer)
        self.assertIn("Hello carol", self.received(transport)[-1])


class PasswordPromptTests(LineTestCase):
    """
    At the password prompt every line is the password, but for the door's
    own commands there; Enter at the name prompt asks again (issue 15).
    """

    def setUp(self) -> None:
        super().setUp()
        alice, _ = self.connect("alice")
        alice.dataReceived(b"/register sesame1\n/quit\n")

    @property
    def hasher(self) -> FakeHasher:
        return cast(FakeHasher, self.core.hashing._hasher)

    def at_password(self) -> tuple[ChatProtocol, StringTransport]:
        client, transport = self.connect()
        client.dataReceived(b"alice\n")
        self.assertEqual(self.received(transport)[-1], "Password:")
        return client, transport

    def test_commands_at_prompt(self) -> None:
        """
        C{/help} and C{/mode} are carried out and the password asked for
        again, uncounted; C{/quit} quits.
        """
        client, transport = self.at_password()
        client.dataReceived(b"/help\n")
        lines = self.received(transport)
        self.assertIn("/quit", "\n".join(lines))
        self.assertEqual(lines[-1], "Password:")
        client.dataReceived(b"/MODE json\n")
        events = [json.loads(line) for line in self.received(transport)]
        self.assertEqual(
            [(e["type"], e.get("prompt")) for e in events],
            [("mode", None), ("prompt", "password")],
        )
        self.assertEqual(self.hasher.checked, [])
        client.dataReceived(b"/quit\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.hasher.checked, [])

    def test_other_slash_lines_are_passwords(self) -> None:
        """
        Any other line starting with C{/} is the password: checked, and
        never carried out or echoed.
        """
        for line in (b"/users", b"/register x", b"/file chunk 1 0 5", b"/exit!now"):
            client, transport = self.at_password()
            client.dataReceived(line + b"\n")
            lines = self.received(transport)
            self.assertEqual(
                lines[0], "ERROR: wrong password for alice; enter a name again."
            )
            self.assertNotIn(line.decode(), "\n".join(lines))
        self.assertEqual(
            self.hasher.checked,
            ["/users", "/register x", "/file chunk 1 0 5", "/exit!now"],
        )

    def test_blank_password(self) -> None:
        """
        Enter at the password prompt asks for it again, uncounted.
        """
        client, transport = self.at_password()
        client.dataReceived(b"\n")
        self.assertEqual(self.received(transport)[-1], "Password:")
        client.dataReceived(b"sesame1\n")
        self.assertIn("Hello alice", self.received(transport)[0])
        self.assertEqual(self.hasher.checked, ["sesame1"])

    def test_blank_name(self) -> None:
        """
        Enter (or white space) at the name prompt asks for the name again.
        """
        client, transport = self.connect()
        client.dataReceived(b"\n")
        self.assertEqual(self.received(transport, b"\n"), [GREETING])
        client.dataReceived(b"  \n\n")
        self.assertEqual(self.received(transport), [GREETING, GREETING])
        client.dataReceived(b"carol\n")
        self.assertIn("Hello carol", self.received(transport)[0])
