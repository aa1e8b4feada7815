"""
Flood control through the line door: one user cannot knock the others
off.  A flooder is held to its rate, so readers that keep up with normal
traffic never fill their send queues; a client that stops reading is told
why before it is cut; endless and overlong lines keep memory flat.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chat.core.core import ChatCore
from chat.core.flood import TOKEN_BYTES
from chat.core.limits import Limits
from chat.lines.factory import ChatFactory
from chat.lines.output import HIGH_WATER
from chat.lines.protocol import ChatProtocol
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from tests.support import NoDelayTransport, fake_hasher

#: One simulated step of the reactor, in seconds.
STEP = 0.01


class ReadingTransport(NoDelayTransport):
    """
    A peer that reads C{per_second} bytes a second, as a socket transport
    behaves for the protocol: what the peer has not read yet is held, and
    past L{HIGH_WATER} held bytes the registered producer is paused, until
    everything is read (Twisted's C{FileDescriptor}).

    @ivar lines: how many whole lines the peer read.
    """

    def __init__(self, port: int, per_second: float) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.per_second = per_second
        self.held = 0
        self.lines = 0
        self._producer_paused = False

    def write(self, data: bytes) -> None:
        super().write(data)
        self.held += len(data)
        self.lines += data.count(b"\n")
        producer = self.producer
        if self.held > HIGH_WATER and producer is not None:
            if not self._producer_paused:
                self._producer_paused = True
                IPushProducer(producer).pauseProducing()

    def read(self, seconds: float) -> None:
        """
        The peer reads for C{seconds}.
        """
        self.held = max(0, self.held - int(self.per_second * seconds))
        if self.held == 0 and self._producer_paused and self.producer is not None:
            self._producer_paused = False
            IPushProducer(self.producer).resumeProducing()


class Server:
    """
    The line door on a core as the server builds it, with the server's
    default limits, on a clock.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.clock = Clock()
        self.core = ChatCore(
            self.clock, MemoryStore(), MemorySpool(), fake_hasher(), limits=limits
        )
        self.core.start()
        self.factory = ChatFactory(self.core)
        self.port = 40000

    def connect(
        self,
        name: str,
        transport: NoDelayTransport | None = None,
        host: str = "127.0.0.1",
    ) -> tuple[ChatProtocol, NoDelayTransport]:
        self.port += 1
        protocol = self.factory.buildProtocol(IPv4Address("TCP", host, self.port))
        if transport is None:
            transport = NoDelayTransport(
                peerAddress=IPv4Address("TCP", host, self.port)
            )
        protocol.makeConnection(transport)
        protocol.dataReceived(name.encode() + b"\n")
        self.clock.advance(0)
        return protocol, transport


class SlowReaderTests(SynchronousTestCase):
    """
    A guest broadcasting as fast as it can, for ten seconds, with readers
    at 2, 8 and 40 Mbit/s: before flood control every reader slower than
    the flooder was dropped as a slow consumer within two seconds.
    """

    def test_readers_keep_up(self) -> None:
        """
        The flooder is held to its rate: no reader fills its send queue,
        and each reads every line the flooder got through, while the
        flooder is held back (what it sends waits in its own socket).
        """
        server = Server()
        readers: list[tuple[ChatProtocol, ReadingTransport]] = []
        for mbits in (2, 8, 40):
            transport = ReadingTransport(30000 + mbits, mbits * 1e6 / 8)
            protocol, _ = server.connect(f"reader{mbits}", transport)
            readers.append((protocol, transport))
        flooder, flooder_t = server.connect("flooder")
        for _, transport in readers:
            transport.lines = 0
        line = b"x" * 1000 + b"\n"
        for _ in range(int(10 / STEP)):
            # It sends 100 kB a step (10 MB/s) whenever the server reads.
            if flooder_t.producerState == "producing":
                flooder.dataReceived(line * 100)
            server.clock.advance(STEP)
            for _, transport in readers:
                transport.read(STEP)
        for protocol, transport in readers:
            self.assertFalse(transport.disconnecting, protocol.session.name)
        relayed = [t.lines for _, t in readers]
        limits = Limits()
        # Each 1,000-byte line costs a token more than a short one.
        cost = 1 + (len(line) - 1) // TOKEN_BYTES
        tokens = limits.guest_flood_burst + 10 * limits.guest_flood_rate
        most = tokens // cost + 1
        self.assertEqual(len(set(relayed)), 1, relayed)
        self.assertLessEqual(relayed[0], most)
        self.assertGreaterEqual(relayed[0], most - 4)
        self.assertEqual(flooder_t.producerState, "paused")
        self.assertFalse(flooder_t.disconnecting)

    def test_many_guests_burst_long_lines(self) -> None:
        """
        48 guests from three addresses (16 each, the most allowed) each
        send their whole burst at once in lines of 4,000 bytes: the readers
        at 2, 8 and 40 Mbit/s keep up.  Found by an attacker's review: when
        a line cost a token whatever its length, the 7.7 MB this let through
        at once cut off the readers at 2 and 8 Mbit/s.
        """
        server = Server()
        readers: list[tuple[ChatProtocol, ReadingTransport]] = []
        for mbits in (2, 8, 40):
            transport = ReadingTransport(30000 + mbits, mbits * 1e6 / 8)
            protocol, _ = server.connect(f"reader{mbits}", transport)
            readers.append((protocol, transport))
        guests = [
            server.connect(f"g{i}", host=f"203.0.113.{i % 3}")[0] for i in range(48)
        ]
        self.assertEqual(len(server.core.presence), 51)
        burst = (b"y" * 4000 + b"\n") * Limits().guest_flood_burst
        for guest in guests:
            guest.dataReceived(burst)
        server.clock.advance(STEP)
        # What they could force on every reader at once stays under its
        # send queue (1 MiB), however fast it reads: it was 7.5 MB.
        limit = server.factory.outputs.limit
        for protocol, transport in readers:
            self.assertLess(transport.held, limit, protocol.session.name)
        for _ in range(int(10 / STEP)):
            server.clock.advance(STEP)
            for _, transport in readers:
                transport.read(STEP)
        for protocol, transport in readers:
            self.assertFalse(transport.disconnecting, protocol.session.name)
            self.assertGreater(transport.lines, 48 * 4)

    def test_exempt_flooder_drops_slow_reader(self) -> None:
        """
        What flood control prevents: a flooder from an exempt network (as
        every client was before) makes the 2 Mbit/s reader overflow.
        """
        server = Server()
        reader, reader_t = server.connect("reader", ReadingTransport(30002, 2e6 / 8))
        flooder, flooder_t = server.connect("flooder")
        flooder.session.exempt = True
        line = b"x" * 1000 + b"\n"
        for _ in range(int(2 / STEP)):
            if flooder_t.producerState == "producing":
                flooder.dataReceived(line * 100)
            server.clock.advance(STEP)
            assert isinstance(reader_t, ReadingTransport)
            reader_t.read(STEP)
        self.assertTrue(reader_t.disconnecting)


class SlowConsumerTests(SynchronousTestCase):
    """
    A client that stops reading is told why, past its send queue, before
    it is cut.
    """

    def test_reason_then_cut(self) -> None:
        """
        The reason line follows what the stuck client holds; the others
        are told it left because its send queue was exceeded; it is
        aborted if it does not read within the grace.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        server = Server(Limits(guest_flood_burst=10_000))
        stuck, stuck_t = server.connect("stuck", ReadingTransport(30001, 0))
        _, other_t = server.connect("other")
        sender, _ = server.connect("sender")
        other_t.clear()
        line = b"y" * 1000 + b"\n"
        for _ in range(1200):
            sender.dataReceived(line)
            server.clock.advance(0)
            if stuck_t.disconnecting:
                break
        server.clock.advance(0)
        self.assertTrue(stuck_t.disconnecting)
        self.assertFalse(stuck_t.disconnected)
        self.assertEqual(
            stuck_t.value()[-90:].split(b"\n")[-2],
            b"ERROR: you are not reading what the server sends "
            b"(over 1024 KiB waiting); disconnecting.",
        )
        self.assertEqual(
            other_t.value()[-100:].split(b"\n")[-2],
            b"* stuck left the chat (send queue exceeded)",
        )
        [logged] = [e for e in events if "send queue exceeded" in e["log_format"]]
        self.assertEqual(logged["log_level"], LogLevel.warn)
        self.assertEqual((logged["name"], logged["limit"]), ("stuck", 1024 * 1024))
        server.clock.advance(ChatProtocol.OVERFLOW_GRACE)
        self.assertTrue(stuck_t.disconnected)


class LongLineTests(SynchronousTestCase):
    """
    Lines that never end, or end far past the limit, cost the server no
    memory beyond a read and the limit.
    """

    def test_endless_line(self) -> None:
        """
        50 MB without a newline: one refusal, nothing buffered beyond the
        limit, and the next line is carried out.
        """
        server = Server()
        _, watcher_t = server.connect("watcher")
        client, client_t = server.connect("endless")
        client_t.clear()
        watcher_t.clear()
        read = b"z" * 65536
        most = 0
        for _ in range(50 * 1024 * 1024 // len(read)):
            client.dataReceived(read)
            framer = client._framer
            if framer is not None:
                most = max(most, len(framer._buffer) - framer._pos)
        self.assertLessEqual(most, 4096 + 2)
        client.dataReceived(b"\nhello\r\n")
        server.clock.advance(0)
        self.assertEqual(
            client_t.value(),
            b"ERROR: line too long (the limit is 4096 bytes); it was discarded.\n",
        )
        self.assertEqual(watcher_t.value(), b"endless: hello\n")

    def test_long_line(self) -> None:
        """
        A 100 kB line is refused and discarded; the connection goes on.
        """
        server = Server()
        _, watcher_t = server.connect("watcher")
        client, client_t = server.connect("long")
        client_t.clear()
        watcher_t.clear()
        client.dataReceived(b"w" * 100_000 + b"\nafter\n")
        server.clock.advance(0)
        self.assertEqual(
            client_t.value(),
            b"ERROR: line too long (the limit is 4096 bytes); it was discarded.\n",
        )
        self.assertEqual(watcher_t.value(), b"long: after\n")
