"""
Tests for L{chat.web.door}: the WebSocket door and its guards, with no
sockets (L{tests.web.support}).
"""

from __future__ import annotations

from typing import Any

from wsproto.frame_protocol import Opcode

from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from chat.core.limits import Limits
from chat.core.session import Session
from chat.events import Event, FileAck, FileChunk
from chat.web.door import text_frame
from chat.web.files import WebFiles
from tests.web.support import HOST, ORIGIN, MemoryWebClient, WebTestCase


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """
    One masked client frame (the mask all zeros: the payload as it is).
    """
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        header = bytes((first, 0x80 | size))
    else:
        header = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


class FrameTests(WebTestCase):
    """
    L{text_frame} makes the frames a server sends.
    """

    def test_lengths(self) -> None:
        """
        The three length forms of RFC 6455 5.2, unmasked and final.
        """
        self.assertEqual(text_frame(b"hi"), b"\x81\x02hi")
        self.assertEqual(text_frame(b"x" * 126)[:4], b"\x81\x7e\x00\x7e")
        self.assertEqual(
            text_frame(b"x" * 65536)[:10], b"\x81\x7f" + (65536).to_bytes(8, "big")
        )


class LoginTests(WebTestCase):
    """
    A tab logs in over the WebSocket with the line protocol's prompts.
    """

    def test_prompt_welcome_and_token(self) -> None:
        """
        The first message asks for a name; the name is welcomed, and the
        welcome is followed by the files token.
        """
        client = MemoryWebClient(self.site, self.clock)
        self.assertTrue(client.accepted)
        [prompt] = client.received()
        self.assertEqual(
            (prompt["type"], prompt["prompt"], prompt["from"]), ("prompt", "name", None)
        )
        client.send("alice")
        welcome, files = client.received()
        self.assertEqual((welcome["type"], welcome["name"]), ("welcome", "alice"))
        self.assertIn("history_id", welcome)
        self.assertEqual(files["type"], "web-files")
        self.assertEqual(files["path"], "/files/")
        self.assertEqual(files["from"], None)
        self.assertGreaterEqual(len(files["token"]), 32)
        self.assertRegex(files["token"], r"^[A-Za-z0-9_-]+$")

    def test_tokens_differ(self) -> None:
        """
        Every session gets a token of its own.
        """
        tokens = set()
        for name in ("alice", "bob", "carol"):
            client = self.connect()
            client.send(name)
            [files] = [e for e in client.received() if e["type"] == "web-files"]
            tokens.add(files["token"])
        self.assertEqual(len(tokens), 3)

    def test_password_over_plain_http_is_insecure(self) -> None:
        """
        A registered name's password prompt says it travels in clear over
        ws:, and not over wss:.
        """
        alice = self.connect("alice")
        alice.send("/register sesame1")
        alice.send("/quit")
        alice.received()
        plain = self.connect()
        plain.send("alice")
        [prompt] = plain.received()
        self.assertEqual((prompt["prompt"], prompt["insecure"]), ("password", True))
        secure = self.connect(secure=True, origin="https://" + HOST)
        secure.send("alice")
        [prompt] = secure.received()
        self.assertEqual((prompt["prompt"], prompt["insecure"]), ("password", False))
        secure.send("sesame1")
        self.assertEqual(secure.types()[:2], ["welcome", "web-files"])

    def test_wrong_password_discards_what_followed(self) -> None:
        """
        What a tab sent after a wrong password, in the same read, is
        dropped: it is never taken for a name.
        """
        alice = self.connect("alice")
        alice.send("/register sesame1")
        alice.send("/quit")
        alice.received()
        client = self.connect()
        client.send("alice")
        client.received()
        client.send_raw(
            client.ws.send(__import__("wsproto").events.TextMessage("guess11"))
            + client.ws.send(__import__("wsproto").events.TextMessage("sesame1"))
        )
        seen = client.received()
        self.assertEqual([e["type"] for e in seen], ["error", "prompt"])
        self.assertEqual(seen[1]["prompt"], "name")
        client.send("carol")
        self.assertEqual(client.types()[:1], ["welcome"])

    def test_resume_before_name(self) -> None:
        """
        C{/since ID} before the name is understood, as on the line door.
        """
        client = self.connect()
        client.send("/since 0")
        client.send("alice")
        self.assertIn("welcome", client.types())

    def test_mode_json_only(self) -> None:
        """
        C{/mode json} is answered (the web door is in JSON mode already);
        C{/mode text} is refused.
        """
        client = self.connect()
        client.send("/mode json")
        self.assertEqual(client.types(), ["mode", "prompt"])
        client.send("/mode text")
        [error] = client.received()
        self.assertEqual(error["code"], "usage")


class ChatTests(WebTestCase):
    """
    Tabs chat with each other as line clients do.
    """

    def test_broadcast_private_room(self) -> None:
        """
        A message reaches the others (not its sender), a private message
        only its target, a room message only the room.
        """
        alice, bob, carol = (self.connect(n) for n in ("alice", "bob", "carol"))
        for c in (alice, bob, carol):
            c.received()
        alice.send("hello all")
        self.assertEqual(alice.received(), [])
        for c in (bob, carol):
            [message] = c.received()
            self.assertEqual(
                (message["type"], message["from"], message["text"]),
                ("message", "alice", "hello all"),
            )
        alice.send("bob*psst")
        [private] = bob.received()
        self.assertEqual((private["type"], private["text"]), ("private", "psst"))
        self.assertEqual(carol.received(), [])
        alice.send("/join #r")
        bob.send("/join #r")
        alice.received()
        bob.received()
        alice.send("#r*in the room")
        [room] = bob.received()
        self.assertEqual((room["room"], room["text"]), ("#r", "in the room"))
        self.assertEqual(carol.received(), [])

    def test_many_events_one_message_each(self) -> None:
        """
        A burst of broadcasts reaches each tab as one JSON object per
        WebSocket message, in order.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        for i in range(5):
            alice.send(f"m{i}")
        self.assertEqual(
            [e["text"] for e in bob.received()], [f"m{i}" for i in range(5)]
        )

    def test_mention(self) -> None:
        """
        A message naming a tab's user says so in that tab's copy only.
        """
        alice, bob, carol = (self.connect(n) for n in ("alice", "bob", "carol"))
        for c in (alice, bob, carol):
            c.received()
        alice.send("hi bob")
        [to_bob] = bob.received()
        [to_carol] = carol.received()
        self.assertTrue(to_bob["mention"])
        self.assertNotIn("mention", to_carol)

    def test_quit(self) -> None:
        """
        C{/quit} says goodbye and closes the WebSocket normally (1000).
        """
        alice = self.connect("alice")
        alice.send("/quit")
        self.assertEqual(alice.types(), ["goodbye"])
        self.assertEqual([c.code for c in alice.closes], [1000])
        self.assertTrue(alice.transport.disconnecting)

    def test_no_file_get(self) -> None:
        """
        C{/file get} (raw bytes on the connection) is refused: downloads
        go over HTTP.
        """
        alice = self.connect("alice")
        alice.received()
        alice.send("/file get 1 0")
        [error] = alice.received()
        self.assertEqual(error["code"], "usage")
        self.assertIn("HTTP", error["text"])

    def test_closed_tab_leaves(self) -> None:
        """
        A tab whose connection ends leaves the chat; the others are told.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        bob.lose()
        [left] = alice.received()
        self.assertEqual((left["type"], left["name"]), ("leave", "bob"))
        self.assertEqual(self.door.connections, {c for c in self.door.connections})
        self.assertEqual(len(self.door.connections), 1)


class BadInputTests(WebTestCase):
    """
    What a message may not carry is refused with C{bad-input}, and nothing
    else happens.
    """

    def check_refused(self, send: Any, n: int = 0) -> None:
        alice, bob = self.connect(f"alice{n}"), self.connect(f"bob{n}")
        alice.received()
        send(bob)
        [error] = bob.received()
        self.assertEqual((error["type"], error["code"]), ("error", "bad-input"))
        self.assertEqual(alice.received(), [])
        self.assertFalse(bob.transport.disconnecting)
        bob.send("still here")
        self.assertEqual([e["text"] for e in alice.received()], ["still here"])

    def test_line_breaks(self) -> None:
        """
        CR, LF or NUL in a message would be two lines: refused.
        """
        for n, text in enumerate(("a\nb", "a\rb", "a\x00b", "\n")):
            self.check_refused(lambda c, text=text: c.send(text), n)

    def test_binary(self) -> None:
        """
        A binary message is refused, whatever it holds.
        """
        self.check_refused(lambda c: c.send_bytes(b"hello"))

    def test_fragmented_binary(self) -> None:
        """
        A binary message in fragments is refused once, when it ends.
        """
        self.check_refused(
            lambda c: c.send_raw(
                frame(Opcode.BINARY, b"ab", fin=False)
                + frame(Opcode.CONTINUATION, b"cd", fin=False)
                + frame(Opcode.CONTINUATION, b"ef")
            )
        )

    def test_fragmented_text(self) -> None:
        """
        A text message in fragments, split anywhere, is one line.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        data = frame(Opcode.TEXT, b"hel", fin=False) + frame(Opcode.CONTINUATION, b"lo")
        for i in range(len(data)):
            bob.send_raw(data[i : i + 1])
        self.assertEqual([e["text"] for e in alice.received()], ["hello"])

    def test_invalid_utf8_closes(self) -> None:
        """
        A text frame that is not UTF-8 fails the connection with 1007, as
        RFC 6455 requires (wsproto checks it).
        """
        bob = self.connect("bob")
        bob.send_raw(frame(Opcode.TEXT, b"\xff\xfe"))
        bob.received()
        self.assertEqual([c.code for c in bob.closes], [1007])


class SizeTests(WebTestCase):
    """
    Messages are at most the line limit (64 bytes here): more closes the
    WebSocket with 1009 before the message is buffered whole.
    """

    def test_at_the_limit(self) -> None:
        """
        A message of exactly the limit is read.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        bob.send("x" * 64)
        self.assertEqual([e["text"] for e in alice.received()], ["x" * 64])

    def test_over_the_limit(self) -> None:
        """
        One byte more closes with 1009, and nothing is said.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        bob.send("x" * 65)
        bob.received()
        self.assertEqual([c.code for c in bob.closes], [1009])
        self.assertTrue(bob.transport.disconnecting)
        self.assertEqual(
            [e["type"] for e in alice.received() if e["type"] == "message"], []
        )

    def test_bytes_not_characters(self) -> None:
        """
        The limit counts UTF-8 bytes: 33 two-byte characters are over it.
        """
        bob = self.connect("bob")
        bob.send("é" * 33)
        bob.received()
        self.assertEqual([c.code for c in bob.closes], [1009])

    def test_fragments_not_buffered(self) -> None:
        """
        A message sent in fragments is refused as soon as the fragments
        pass the limit, before it ends.
        """
        bob = self.connect("bob")
        for _ in range(3):
            bob.send_raw(frame(Opcode.TEXT if _ == 0 else 0, b"x" * 30, fin=False))
        bob.received()
        self.assertEqual([c.code for c in bob.closes], [1009])
        # What follows is not read.
        bob.send_raw(frame(0, b"x" * 30, fin=False))

    def test_huge_frame_header(self) -> None:
        """
        A frame announcing gigabytes is refused on its first bytes.
        """
        bob = self.connect("bob")
        bob.send_raw(
            b"\x81\xff" + (2**40).to_bytes(8, "big") + b"\0\0\0\0" + b"x" * 100
        )
        bob.received()
        self.assertEqual([c.code for c in bob.closes], [1009])


class OriginTests(WebTestCase):
    """
    Only the page's own origin, and those given with C{--web-origin}, may
    open the WebSocket; others get 403 before any upgrade.
    """

    origins = ("https://client.example",)

    def refused(self, **kwargs: Any) -> MemoryWebClient:
        client = self.connect(**kwargs)
        self.assertFalse(client.accepted)
        assert client.refused is not None
        self.assertEqual(client.refused[0], 403)
        self.assertEqual(self.door.connections, set())
        return client

    def test_missing(self) -> None:
        """
        No Origin: refused.
        """
        self.refused(origin=None)

    def test_other(self) -> None:
        """
        Another site's page: refused, and the log says so.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.refused(origin="http://evil.example")
        self.assertTrue([e for e in events if e.get("origin") == "http://evil.example"])

    def test_scheme_matters(self) -> None:
        """
        The page's host over the other scheme is another origin.
        """
        self.refused(origin="https://" + HOST)

    def test_own_origin_any_case(self) -> None:
        """
        The page's own origin is compared case-insensitively.
        """
        client = self.connect(origin=ORIGIN.upper())
        self.assertTrue(client.accepted)

    def test_configured(self) -> None:
        """
        An origin given with C{--web-origin} may.
        """
        client = self.connect(origin="https://client.example")
        self.assertTrue(client.accepted)


class PingTests(WebTestCase):
    """
    The door pings every connection; one that answers nothing by the next
    ping is dropped.
    """

    ping_interval = 30.0

    def test_pinged_and_answered(self) -> None:
        """
        A tab that answers stays.
        """
        alice = self.connect("alice")
        for _ in range(4):
            self.clock.advance(30)
            alice.received()
        self.assertEqual(alice.pings, 4)
        self.assertFalse(alice.transport.disconnecting)

    def test_silent_dropped(self) -> None:
        """
        A tab that does not answer is aborted at the ping after.
        """
        alice = self.connect("alice")
        alice.answer_pings = False
        self.clock.advance(30)
        alice.received()
        self.assertEqual(alice.pings, 1)
        self.assertFalse(alice.transport.disconnecting)
        self.clock.advance(30)
        self.assertTrue(alice.transport.disconnected)


class FlowTests(WebTestCase):
    """
    Flood control reaches the socket, and a tab that stops reading is
    dropped like a line client.
    """

    def test_flood_pauses_reading(self) -> None:
        """
        More requests in one read than a turn takes pause the transport;
        the rest are carried out in later turns, in order.
        """
        alice = self.connect("alice", peer="192.0.2.1")
        bob = self.connect("bob", peer="192.0.2.2")
        alice.received()
        burst = b"".join(
            bob.ws.send(__import__("wsproto").events.TextMessage(f"m{i}"))
            for i in range(40)
        )
        bob.send_raw(burst)
        self.assertEqual(bob.transport.producerState, "paused")
        seen: list[str] = []
        for _ in range(200):
            self.clock.advance(1)
            seen += [e["text"] for e in alice.received() if e["type"] == "message"]
        self.assertEqual(seen, [f"m{i}" for i in range(40)])
        self.assertEqual(bob.transport.producerState, "producing")

    def test_slow_consumer(self) -> None:
        """
        A tab whose transport paused us (it does not read) and that is
        sent more than the send queue holds is told why, closed (1008),
        and aborted after a grace; the others are told it left.
        """
        alice, bob = self.connect("alice"), self.connect("bob")
        alice.received()
        producer = bob.transport.producer
        assert producer is not None
        self.assertTrue(IPushProducer.providedBy(producer))
        producer.pauseProducing()
        for i in range(30):
            alice.send(f"message {i:02} " + "x" * 40)
            self.clock.advance(0)
        self.clock.advance(0)
        data = bob.transport.value()
        self.assertIn(b"send-queue-exceeded", data)
        self.assertTrue(bob.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(bob.transport.disconnected)
        left = [e for e in alice.received() if e["type"] == "leave"]
        self.assertEqual([e["name"] for e in left], ["bob"])


class RecordingFiles(WebFiles):
    """
    L{WebFiles} that records what the door calls, and consumes file acks.
    """

    def __init__(self, files: WebFiles) -> None:
        self.__dict__.update(files.__dict__)
        self.calls: list[tuple[str, object]] = []

    def attach(self, session: Session) -> str:
        token = super().attach(session)
        self.calls.append(("attach", session.name))
        return token

    def intercept(self, token: str, event: Event) -> bool:
        self.calls.append(("intercept", type(event).__name__))
        return type(event) is FileAck

    def detach(self, token: str) -> None:
        self.calls.append(("detach", token))
        super().detach(token)


class FilesTests(WebTestCase):
    """
    The door calls L{WebFiles} as the contract says.
    """

    def setUp(self) -> None:
        super().setUp()
        self.door.files = self.recording = RecordingFiles(self.files)

    def test_attach_intercept_detach(self) -> None:
        """
        Attached after the welcome; file events offered to intercept (an
        ack it consumes is not sent, a chunk it does not is not sent
        either: raw bytes); other events not offered; detached on close.
        """
        alice = self.connect("alice")
        self.assertEqual(self.recording.calls, [("attach", "alice")])
        connection = alice.connection(self.door)
        connection.deliver(FileAck(0.0, 1, 10))
        connection.deliver(FileChunk(0.0, 1, 0, b"\xff\x00"))
        self.assertEqual(alice.received(), [])
        alice.send("/users")
        self.assertEqual(alice.types(), ["users"])
        token = connection._token
        alice.lose(Failure(ConnectionError("gone")))
        self.assertEqual(
            self.recording.calls[1:],
            [
                ("intercept", "FileAck"),
                ("intercept", "FileChunk"),
                ("detach", token),
            ],
        )


class MemoryTests(WebTestCase):
    """
    An open WebSocket keeps only what it needs.
    """

    def test_request_dropped(self) -> None:
        """
        The upgraded HTTP request (headers, body buffer) is not kept.
        """
        alice = self.connect("alice")
        self.assertEqual(alice.channel._channel.requests, [])  # type: ignore[attr-defined]


class AdmissionTests(WebTestCase):
    """
    Each WebSocket is a session of its peer's address: the per-address
    limits apply as on the line door.
    """

    limits = Limits(connections_per_address=2)

    def test_per_address(self) -> None:
        """
        Past the limit a tab is told why and closed; another address may.
        """
        first, second = self.connect(), self.connect()
        self.port += 1
        third = MemoryWebClient(self.site, self.clock, "192.0.2.1", self.port)
        [error] = third.received()
        self.assertEqual(error["code"], "too-many-connections")
        self.assertTrue(third.accepted)
        self.assertTrue(third.transport.disconnecting)
        third.lose()
        self.assertFalse(first.transport.disconnecting)
        self.assertFalse(second.transport.disconnecting)
        other = self.connect(peer="198.51.100.7")
        self.assertFalse(other.transport.disconnecting)
        self.assertEqual(len(self.door.connections), 3)
