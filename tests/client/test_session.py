"""
Tests for the client core, L{chat.client.session}, and its helpers
L{chat.client.cipher}, L{chat.client.format} and L{chat.client.script}.

L{ClientSession} is driven with a L{FakeView} that records what it is told
and a L{FakeEndpoint} whose connections are L{StringTransport}s, with a
L{Clock}: no sockets, no reactor.  The test plays the server by feeding JSON
events to the connection.
"""

from __future__ import annotations

import io
import json
from typing import Any

from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch
from service_identity.hazmat import DNS_ID

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
)
from twisted.internet.interfaces import (
    IHandshakeListener,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chat.client import cipher
from chat.client.files import Progress
from chat.client.format import plain
from chat.client.main import ClientOptions, _parser, make_endpoint, read_password
from chat.client.script import ScriptView, StdinReader
from chat.client.session import (
    ACK_BATCH,
    CATCH_UP_GRACE,
    PENDING_GRACE,
    QUIT_GRACE,
    SHOWN_IDS_KEPT,
    ClientSession,
    Said,
    Status,
    masked,
)
from tests.support import make_certificate

SERVER = "127.0.0.1:55555"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """
    A server event of type C{kind} with the fields every event has.
    """
    return {"type": kind, "time": "2026-11-21T15:48:16.495Z", "from": None, **fields}


class FakeView:
    """
    An L{IClientView} that records every call.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.notices: list[str] = []
        self.errors: list[str] = []
        self.asked = 0
        self.statuses: list[Status] = []
        self.codes: list[int] = []
        self.saids: list[Said] = []
        self.answers: list[bool | None] = []
        self.password_asks: list[tuple[str, bool, str]] = []
        self.progresses: list[Progress] = []

    def show(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def said(self, said: Said) -> None:
        self.saids.append(said)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def answered(self, accepted: bool | None) -> None:
        self.answers.append(accepted)

    def ask_name(self) -> None:
        self.asked += 1

    def ask_password(self, name: str, insecure: bool, text: str) -> None:
        self.password_asks.append((name, insecure, text))

    def status_changed(self, status: Status) -> None:
        self.statuses.append(status)

    def finished(self, code: int) -> None:
        self.codes.append(code)

    def progress(self, progress: Progress) -> None:
        self.progresses.append(progress)


class FakeTransport(StringTransport):
    """
    A L{StringTransport} that is really closed: by the "server"
    (L{server_close}) or, one clock tick after L{loseConnection}, by the
    client, as a reactor would.
    """

    def __init__(self, clock: Clock, protocol: IProtocol) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", 55555))
        self.clock = clock
        self.protocol = protocol
        self.closed = False

    def loseConnection(self) -> None:
        super().loseConnection()
        self.clock.callLater(0, self.server_close, Failure(ConnectionDone()))

    def server_close(self, reason: Failure) -> None:
        """
        The connection is gone, for C{reason}.
        """
        if not self.closed:
            self.closed = True
            self.protocol.connectionLost(reason)

    def receive(self, data: bytes) -> None:
        """
        The server sent C{data}.
        """
        self.protocol.dataReceived(data)

    def receive_event(self, kind: str, **fields: Any) -> None:
        """
        The server sent one JSON event of type C{kind}.
        """
        self.receive(json.dumps(event(kind, **fields)).encode("utf-8") + b"\n")

    def sent(self) -> list[str]:
        """
        The lines the client sent since the last call.
        """
        data: bytes = self.value()
        self.clear()
        return data.decode("utf-8").splitlines()


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """
    Connects at once to a new L{FakeTransport}, or fails with the next of
    L{failures}.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.attempts = 0
        self.failures: list[Exception] = []
        self.transports: list[FakeTransport] = []
        # With hold set, attempts stay under way until release().
        self.hold = False
        self.held: list[tuple[Deferred[IProtocol], IProtocolFactory]] = []

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1
        if self.hold:
            attempt: Deferred[IProtocol] = Deferred()
            self.held.append((attempt, protocolFactory))
            return attempt
        return self._connect(protocolFactory)

    def release(self) -> None:
        """
        The attempts under way connect (or fail with the next of
        L{failures}).
        """
        held, self.held, self.hold = self.held, [], False
        for attempt, factory in held:
            if not attempt.called:
                self._connect(factory).chainDeferred(attempt)

    def _connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        if self.failures:
            return fail(self.failures.pop(0))
        protocol = protocolFactory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 55555))
        assert protocol is not None
        transport = FakeTransport(self.clock, protocol)
        protocol.makeConnection(transport)
        self.transports.append(transport)
        return succeed(protocol)

    @property
    def last(self) -> FakeTransport:
        """
        The latest connection.
        """
        return self.transports[-1]


class SessionTestCase(SynchronousTestCase):
    """
    A L{ClientSession} with a L{FakeView}, a L{FakeEndpoint} and a L{Clock}.
    """

    def setUp(self) -> None:
        self.reset()

    def reset(self) -> None:
        """
        A new clock, view and endpoint, for a new session.
        """
        self.clock = Clock()
        self.view = FakeView()
        self.endpoint = FakeEndpoint(self.clock)

    def make_session(
        self,
        name: str | None = "alice",
        *,
        shift_cipher: bool = False,
        interactive: bool = False,
        tls: bool = False,
        password: str | None = None,
    ) -> ClientSession:
        return ClientSession(
            self.view,
            self.endpoint,
            server=SERVER,
            tls=tls,
            clock=self.clock,
            name=name,
            shift_cipher=shift_cipher,
            interactive=interactive,
            password=password,
        )

    def welcome(self, transport: FakeTransport, name: str = "alice") -> None:
        """
        The server accepts C{name}, alone with bob.
        """
        transport.receive_event(
            "welcome", name=name, users=[name, "bob"], count=2, text="* Hello"
        )

    def joined(self, **options: Any) -> tuple[ClientSession, FakeTransport]:
        """
        A session joined as alice; what it sent so far is read.
        """
        session = self.make_session(**options)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        transport.sent()
        return session, transport

    def settle(self) -> None:
        """
        Run everything scheduled for now (and what that schedules).
        """
        for _ in range(5):
            self.clock.advance(0)


class CipherTests(SynchronousTestCase):
    """
    The letter shift of L{chat.client.cipher}.
    """

    def test_shift_examples(self) -> None:
        """
        Each letter becomes the next, wrapping C{z} to C{a}.
        """
        self.assertEqual(cipher.shift("abc"), "bcd")
        self.assertEqual(cipher.shift("xyza"), "yzab")

    def test_shift_keeps_case_and_other_characters(self) -> None:
        """
        Upper case stays upper case; digits, punctuation, spaces and
        non-ASCII letters are unchanged.
        """
        self.assertEqual(cipher.shift("Hello, World! Zz 42"), "Ifmmp, Xpsme! Aa 42")
        self.assertEqual(cipher.shift("ünï ✓\t*"), "üoï ✓\t*")

    def test_unshift_example(self) -> None:
        """
        L{cipher.unshift} moves each letter back, wrapping C{a} to C{z}.
        """
        self.assertEqual(cipher.unshift("zpaz"), "yozy")
        self.assertEqual(cipher.unshift("Ifmmp, Xpsme! Aa 42"), "Hello, World! Zz 42")

    def test_encode_decode(self) -> None:
        """
        Encoded text is marked and shifted; decoding undoes it, and leaves
        unmarked text as it is.
        """
        self.assertEqual(cipher.encode("abc xyza"), cipher.MARKER + "bcd yzab")
        self.assertEqual(cipher.decode(cipher.MARKER + "bcd yzab"), ("abc xyza", True))
        self.assertEqual(cipher.decode("bcd yzab"), ("bcd yzab", False))


class FormatTests(SynchronousTestCase):
    """
    L{plain} renders each event type as one line from its fields.
    """

    def test_messages(self) -> None:
        """
        Public, private and action messages show the sender and exact text.
        """
        self.assertEqual(
            plain(event("message", **{"from": "bob"}, text="hi  all")),
            "bob: hi  all",
        )
        self.assertEqual(
            plain(event("private", **{"from": "bob", "to": "alice"}, text="psst")),
            "[private] bob: psst",
        )
        self.assertEqual(
            plain(event("action", **{"from": "bob"}, text="waves")), "* bob waves"
        )

    def test_join_and_leave(self) -> None:
        """
        Joins and leaves name the user; a leave gives its reason if any.
        """
        self.assertEqual(plain(event("join", name="bob")), "* bob joined")
        self.assertEqual(
            plain(event("leave", name="bob", reason="quit")), "* bob left (quit)"
        )
        self.assertEqual(plain(event("leave", name="bob", reason=None)), "* bob left")

    def test_welcome(self) -> None:
        """
        The welcome gives the name, the count and the names when listed.
        """
        self.assertEqual(
            plain(event("welcome", name="alice", users=["alice", "bob"], count=2)),
            "* joined as alice; 2 online: alice, bob",
        )
        self.assertEqual(
            plain(event("welcome", name="alice", users=[], count=812)),
            "* joined as alice; 812 online",
        )

    def test_users(self) -> None:
        """
        A user list gives its length and the names.
        """
        self.assertEqual(
            plain(event("users", users=["alice", "bob"])),
            "* online (2): alice, bob",
        )

    def test_help_and_error(self) -> None:
        """
        Help is shown as the server's text; an error gets C{ERROR:}.
        """
        self.assertEqual(
            plain(event("help", text="* Commands:\n*   /help")),
            "* Commands:\n*   /help",
        )
        self.assertEqual(
            plain(event("error", code="usage", text="usage: /dm NAME TEXT")),
            "ERROR: usage: /dm NAME TEXT",
        )

    def test_silent_events(self) -> None:
        """
        Mode changes, prompts and goodbyes show nothing.
        """
        self.assertIsNone(plain(event("mode", mode="json", text="* Output mode")))
        self.assertIsNone(plain(event("prompt", prompt="name", text="name?")))
        self.assertIsNone(plain(event("goodbye", reason=None, text="* Goodbye!")))

    def test_unknown_event(self) -> None:
        """
        An event type from a newer server shows its text, or nothing.
        """
        self.assertEqual(plain(event("topic", text="* new topic")), "* new topic")
        self.assertIsNone(plain(event("topic")))


class JoiningTests(SessionTestCase):
    """
    Connecting, choosing a name and the lines typed before joining.
    """

    def test_mode_then_name(self) -> None:
        """
        The client asks for JSON mode at once and sends its name when the
        server prompts for it.
        """
        session = self.make_session()
        session.start()
        transport = self.endpoint.last
        self.assertEqual(transport.sent(), ["/mode json"])
        transport.receive(b"Welcome to txchat! Please enter your name:\r\n")
        transport.receive_event("mode", mode="json", text="* Output mode is json.")
        self.assertEqual(transport.sent(), [])
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["alice"])
        self.assertEqual(self.view.events, [])
        self.assertEqual(self.view.asked, 0)
        self.assertTrue(session.status.connected)

    def test_asks_without_name(self) -> None:
        """
        Without a name the view is asked for one, and the answer is sent.
        """
        session = self.make_session(name=None)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(self.view.asked, 1)
        session.submit_name(" carol ")
        self.assertEqual(transport.sent(), ["/mode json", "carol"])

    def test_name_in_use_asks_again(self) -> None:
        """
        Interactively, a name already taken is reported, the view is asked
        again, and the next name submitted is sent on the same connection.
        """
        session = self.make_session(interactive=True)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.sent()
        transport.receive_event(
            "error",
            code="name-in-use",
            text="the name alice is already taken; please choose another.",
        )
        self.assertEqual(
            self.view.errors,
            ["ERROR: the name alice is already taken; please choose another."],
        )
        self.assertEqual(self.view.asked, 1)
        self.assertIsNone(session.name)
        session.submit_name("alice2")
        self.assertEqual(transport.sent(), ["alice2"])
        self.welcome(transport, "alice2")
        self.assertEqual(session.name, "alice2")
        self.assertEqual(session.status.name, "alice2")
        self.assertEqual(len(self.endpoint.transports), 1)

    def test_welcome_flushes_pending_lines(self) -> None:
        """
        Lines typed before the welcome are sent after it, in order.
        """
        session = self.make_session()
        session.input_line("first")
        session.start()
        transport = self.endpoint.last
        session.input_line("bob*second")
        session.input_line("SEND third")
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["/mode json", "alice"])
        self.welcome(transport)
        self.assertEqual(transport.sent(), ["first", "bob*second", "/bm third"])
        self.assertEqual(self.view.events[0]["type"], "welcome")
        session.input_line("fourth")
        self.assertEqual(transport.sent(), ["fourth"])

    def test_event_split_into_bytes(self) -> None:
        """
        An event arriving one byte at a time is handled once, whole; a CRLF
        line end is accepted.
        """
        session, transport = self.joined()
        data = json.dumps(event("message", **{"from": "bob"}, text="hi ✓")).encode()
        for byte in data + b"\r\n":
            transport.receive(bytes([byte]))
        self.assertEqual(self.view.events[-1]["text"], "hi ✓")
        self.assertEqual(len(self.view.events), 2)

    def test_other_errors_are_shown(self) -> None:
        """
        A refusal after joining is reported as an error and does not ask
        for a name.
        """
        session, transport = self.joined()
        transport.receive_event(
            "error", code="no-such-user", text="carol is not online."
        )
        self.assertEqual(self.view.errors, ["ERROR: carol is not online."])
        self.assertEqual(self.view.asked, 0)


class CipherSessionTests(SessionTestCase):
    """
    With C{shift_cipher}, only message text is shifted on the way out, and
    only marked text is unshifted on the way in.
    """

    def sent_for(self, line: str, shift_cipher: bool = True) -> list[str]:
        session, transport = self.joined(shift_cipher=shift_cipher)
        session.input_line(line)
        return transport.sent()

    def test_outgoing_wire_forms(self) -> None:
        """
        Each way of sending a message shifts just the text, marked.
        """
        m = cipher.MARKER
        cases = {
            "abc xyza": f"{m}bcd yzab",
            "ALL*abc": f"ALL*{m}bcd",
            "bob*Hi, Bob!": f"bob*{m}Ij, Cpc!",
            "/dm bob abc": f"/dm bob {m}bcd",
            "/msg bob abc": f"/msg bob {m}bcd",
            "/bm abc": f"/bm {m}bcd",
            "/me waves": f"/me {m}xbwft",
            "SEND abc": f"/bm {m}bcd",
        }
        for line, wire in cases.items():
            self.assertEqual(self.sent_for(line), [wire], line)

    def test_commands_not_shifted(self) -> None:
        """
        Commands without message text, and a C{/dm} without text, go as
        typed.
        """
        for line in ("/users", "/help", "/dm bob", "/mode #chess +i"):
            self.assertEqual(self.sent_for(line), [line])

    def test_plain_without_cipher(self) -> None:
        """
        Without C{shift_cipher} every line goes as typed.
        """
        self.assertEqual(self.sent_for("abc xyza", shift_cipher=False), ["abc xyza"])
        self.assertEqual(self.sent_for("SEND abc", shift_cipher=False), ["/bm abc"])

    def test_incoming(self) -> None:
        """
        Marked message, private and action text is unshifted; unmarked
        text is shown unchanged.
        """
        session, transport = self.joined(shift_cipher=True)
        sender = {"from": "bob"}
        transport.receive_event("message", **sender, text="zpaz plain")
        transport.receive_event("message", **sender, text=cipher.MARKER + "bcd yzab")
        transport.receive_event(
            "private", **sender, to="alice", text=cipher.MARKER + "zpaz"
        )
        transport.receive_event("action", **sender, text=cipher.MARKER + "xbwft")
        shown = [(e["text"], e.get("shifted", False)) for e in self.view.events[1:]]
        self.assertEqual(
            shown,
            [
                ("zpaz plain", False),
                ("abc xyza", True),
                ("yozy", True),
                ("waves", True),
            ],
        )

    def test_incoming_without_cipher(self) -> None:
        """
        Without C{shift_cipher} marked text is shown as received.
        """
        session, transport = self.joined()
        text = cipher.MARKER + "bcd yzab"
        transport.receive_event("message", **{"from": "bob"}, text=text)
        self.assertEqual(self.view.events[-1]["text"], text)


class SaidTests(SessionTestCase):
    """
    The view is told what the user said, classified like the server does.
    """

    def test_messages_reported(self) -> None:
        """
        Broadcasts, private messages and actions in every typed form reach
        the view once each; commands and empty messages do not.
        """
        session, transport = self.joined()
        for line in [
            "hi all",
            "ALL*to all",
            "bob*psst",
            "/dm carol  hello",
            "/msg dave yo",
            "/bm loud",
            "/me waves",
            "SEND seed",
            "/users",
            "bob*",
            "/dm bob",
        ]:
            session.input_line(line)
        self.assertEqual(
            self.view.saids,
            [
                Said("message", "hi all"),
                Said("message", "to all"),
                Said("private", "psst", "bob"),
                Said("private", " hello", "carol", "dm"),
                Said("private", "yo", "dave", "msg"),
                Said("message", "loud", None, "bm"),
                Said("action", "waves", None, "me"),
                Said("message", "seed", None, "bm"),
            ],
        )
        self.assertEqual(len(transport.sent()), 11)


class KeywordTests(SessionTestCase):
    """
    The client's own keywords.
    """

    def test_quit_words(self) -> None:
        """
        C{QUIT}, C{q}, C{tata}, C{/quit} and C{/exit} each ask the server to
        close; C{/quit REASON} passes the reason on.
        """
        for word in ("QUIT", "q", "tata", "/quit", "/exit", "/quit gone home"):
            self.reset()
            session, transport = self.joined()
            session.input_line(word)
            expected = "/quit gone home" if word == "/quit gone home" else "/quit"
            self.assertEqual(transport.sent(), [expected], word)
            transport.server_close(Failure(ConnectionDone()))
            self.settle()
            self.assertEqual(self.view.codes, [0], word)

    def test_send(self) -> None:
        """
        C{SEND message} broadcasts the message with C{/bm}; C{SEND} alone is
        refused with its usage.
        """
        session, transport = self.joined()
        session.input_line("SEND build finished")
        self.assertEqual(transport.sent(), ["/bm build finished"])
        session.input_line("SEND")
        self.assertEqual(transport.sent(), [])
        self.assertEqual(self.view.errors, ["ERROR: usage: SEND <message>"])

    def test_connect_while_connected(self) -> None:
        """
        C{CONNECT} while connected only says so.
        """
        session, transport = self.joined()
        session.input_line("CONNECT")
        self.assertEqual(self.view.notices, [f"already connected to {SERVER}"])
        self.assertEqual(self.endpoint.attempts, 1)
        self.assertFalse(transport.disconnecting)

    def test_script_quit_after_pending_lines(self) -> None:
        """
        In scriptable mode a C{QUIT} read before the welcome waits for the
        lines before it to be sent; lines after it are not sent.
        """
        session = self.make_session()
        session.start()
        transport = self.endpoint.last
        for line in ("SEND hello", "QUIT", "SEND not this"):
            session.input_line(line)
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        self.assertEqual(
            transport.sent(), ["/mode json", "alice", "/bm hello", "/quit"]
        )
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.view.codes, [0])


class Seed003Tests(SessionTestCase):
    """
    Seed 003's client flow: C{CONNECT}, C{SEND <message>}, C{QUIT}; and,
    with C{--no-connect}, its answer to anything else while not connected.
    """

    def test_connect_during_first_attempt(self) -> None:
        """
        C{printf 'CONNECT\\nSEND hi\\nQUIT\\n' | chat-client --name x}: the
        C{CONNECT} read while the first attempt is under way changes
        nothing (it used to cancel the attempt and report it as
        C{ERROR: Connection Failed.}); C{hi} is sent, and the session
        finishes with 0.
        """
        self.endpoint.hold = True
        session = self.make_session("x")
        session.start()
        for line in ("CONNECT", "SEND hi", "QUIT"):
            session.input_line(line)
        session.end_of_input()
        self.settle()
        self.assertEqual(self.view.notices, [f"already connecting to {SERVER}"])
        self.endpoint.release()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport, "x")
        self.assertEqual(transport.sent(), ["/mode json", "x", "/bm hi", "/quit"])
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.view.errors, [])
        self.assertEqual(self.view.codes, [0])
        self.assertEqual(self.endpoint.attempts, 1)

    def test_connect_while_connected_before_welcome(self) -> None:
        """
        C{CONNECT} on a connection not yet joined does not break it.
        """
        session = self.make_session()
        session.start()
        transport = self.endpoint.last
        session.input_line("CONNECT")
        self.assertEqual(self.view.notices, [f"already connected to {SERVER}"])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.endpoint.attempts, 1)

    def test_connect_while_waiting_to_retry(self) -> None:
        """
        C{CONNECT} during the backoff wait tries at once.
        """
        session, transport = self.joined()
        transport.server_close(Failure(ConnectionLost("gone")))
        session.input_line("CONNECT")
        self.settle()
        self.assertEqual(self.endpoint.attempts, 2)
        self.assertTrue(session.status.connected)

    def test_slash_connect_during_first_attempt(self) -> None:
        """
        C{/connect} replaces an attempt under way; the attempt it cancels
        is not reported as a failure.
        """
        self.endpoint.hold = True
        session = self.make_session(interactive=True)
        session.start()
        session.input_line("/connect")
        self.settle()
        self.assertEqual(self.view.errors, [])
        self.assertEqual(self.view.codes, [])
        self.assertEqual(self.endpoint.attempts, 2)
        self.endpoint.release()
        self.assertTrue(session.status.connected)

    def test_no_connect(self) -> None:
        """
        Waiting for C{CONNECT}, the session does not connect; anything but
        its commands is answered with seed 003's line, C{SEND} with how to
        connect, and nothing is queued.  C{CONNECT} connects; once
        connected, lines are sent as usual.
        """
        session = self.make_session()
        session.wait_for_connect()
        self.assertEqual(
            self.view.notices, [f"not connected; type CONNECT to connect to {SERVER}"]
        )
        for line in ("hello", "/users", "connect", "SEND hi", ""):
            session.input_line(line)
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 0)
        self.assertEqual(
            self.view.errors,
            [
                "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands.",
                "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands.",
                "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands.",
                f"ERROR: not connected; type CONNECT to connect to {SERVER} first",
            ],
        )
        session.input_line("CONNECT")
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        session.input_line("hello")
        self.assertEqual(transport.sent(), ["/mode json", "alice", "hello"])
        self.assertEqual(len(self.view.errors), 4)

    def test_no_connect_quit(self) -> None:
        """
        C{QUIT} before connecting finishes with 0 at once.
        """
        session = self.make_session()
        session.wait_for_connect()
        session.input_line("QUIT")
        self.settle()
        self.assertEqual(self.view.codes, [0])
        self.assertEqual(self.endpoint.attempts, 0)
        self.assertEqual(self.view.errors, [])

    def test_no_connect_failed_interactive(self) -> None:
        """
        Interactively, a C{CONNECT} that fails is reported as seed 003
        does, and the session waits for the next C{CONNECT} (not retrying),
        answering anything else with seed 003's line again.
        """
        self.endpoint.failures.append(ConnectionRefusedError())
        session = self.make_session(interactive=True)
        session.wait_for_connect()
        session.input_line("CONNECT")
        self.settle()
        self.assertEqual(len(self.view.errors), 1)
        self.assertTrue(self.view.errors[0].startswith("ERROR: Connection Failed. "))
        self.assertIn("refused", self.view.errors[0])
        self.assertEqual(
            self.view.notices[-1], "not connected; type CONNECT to try again"
        )
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)
        session.input_line("hello")
        self.assertEqual(
            self.view.errors[-1],
            "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands.",
        )
        session.input_line("CONNECT")
        self.assertEqual(self.endpoint.attempts, 2)
        self.assertTrue(session.status.connected)
        self.assertEqual(self.view.codes, [])

    def test_no_connect_failed_script(self) -> None:
        """
        In a script, a C{CONNECT} that fails ends the session with 1: the
        lines after it cannot be delivered.
        """
        self.endpoint.failures.append(ConnectionRefusedError())
        session = self.make_session()
        session.wait_for_connect()
        session.input_line("CONNECT")
        self.settle()
        self.assertTrue(self.view.errors[0].startswith("ERROR: Connection Failed. "))
        self.assertEqual(self.view.codes, [1])


class UsersTests(SessionTestCase):
    """
    The set of users online and their count follow the server's events.
    """

    def test_users_and_count(self) -> None:
        """
        The welcome sets them; joins and leaves update them; a user list
        replaces them.
        """
        session, transport = self.joined()
        self.assertEqual(session.users, {"alice", "bob"})
        self.assertEqual(session.status.users, 2)
        transport.receive_event("join", name="carol", text="* carol joined")
        self.assertEqual(session.users, {"alice", "bob", "carol"})
        self.assertEqual(session.status.users, 3)
        transport.receive_event("leave", name="bob", reason="quit", text="* bob left")
        self.assertEqual(session.users, {"alice", "carol"})
        self.assertEqual(session.status.users, 2)
        transport.receive_event("users", users=["alice", "dave", "erin"], text="*")
        self.assertEqual(session.users, {"alice", "dave", "erin"})
        self.assertEqual(session.status.users, 3)
        self.assertEqual(self.view.statuses[-1], session.status)
        self.assertEqual(
            session.status,
            Status(server=SERVER, tls=False, connected=True, name="alice", users=3),
        )
        self.assertEqual(
            [e["type"] for e in self.view.events], ["welcome", "join", "leave", "users"]
        )


class ReconnectTests(SessionTestCase):
    """
    A dropped connection is re-established after a backoff delay and the
    session rejoins by itself.
    """

    def test_reconnect_and_rejoin(self) -> None:
        """
        After a drop the view is told, a new connection is made only after
        the backoff delay, and it rejoins under the same name; lines typed
        meanwhile are sent after the rejoin.
        """
        session, transport = self.joined()
        transport.server_close(Failure(ConnectionLost("gone")))
        self.assertEqual(len(self.view.notices), 1)
        self.assertIn("connection lost", self.view.notices[0])
        self.assertIn("reconnecting", self.view.notices[0])
        self.assertFalse(session.status.connected)
        session.input_line("while away")
        self.clock.advance(0.9)
        self.assertEqual(self.endpoint.attempts, 1)
        self.clock.advance(1.1)
        self.assertEqual(self.endpoint.attempts, 2)
        again = self.endpoint.last
        self.assertTrue(session.status.connected)
        again.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(again.sent(), ["/mode json", "alice"])
        self.assertEqual(self.view.asked, 0)
        self.welcome(again)
        self.assertEqual(again.sent(), ["while away"])
        self.assertEqual(self.view.errors, [])
        self.assertEqual(self.view.codes, [])

    def test_tls_drop_after_handshake_reconnects(self) -> None:
        """
        A TLS connection lost after its handshake completed is an ordinary
        drop: the session reconnects.
        """
        session = self.make_session(tls=True)
        session.start()
        transport = self.endpoint.last
        IHandshakeListener(transport.protocol).handshakeCompleted()
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.server_close(Failure(ConnectionLost("gone")))
        self.assertEqual(self.view.errors, [])
        self.clock.advance(2)
        self.assertEqual(self.endpoint.attempts, 2)

    def test_silent_server_is_an_error(self) -> None:
        """
        A connection closed before the server said anything (a TLS port
        spoken to in plain text, or not a chat server) is an error, not a
        reason to retry forever.
        """
        session = self.make_session()
        session.start()
        self.endpoint.last.server_close(Failure(ConnectionLost("alert")))
        self.settle()
        [error] = self.view.errors
        self.assertIn("no chat server answered", error)
        self.assertIn("--tls", error)
        self.assertEqual(self.view.codes, [1])
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)

    def test_end_of_input_while_disconnected(self) -> None:
        """
        At the end of input with nothing to send and no connection, the
        session finishes at once; with lines waiting it keeps trying for
        L{PENDING_GRACE} seconds, then says how many were not sent.
        """
        session, transport = self.joined()
        transport.server_close(Failure(ConnectionLost("restart")))
        session.end_of_input()
        self.settle()
        self.assertEqual(self.view.codes, [0])

        self.reset()
        session, transport = self.joined()
        transport.server_close(Failure(ConnectionLost("restart")))
        self.endpoint.failures = [ConnectionRefusedError("down")] * 50
        session.input_line("one")
        session.input_line("two")
        session.end_of_input()
        self.clock.advance(PENDING_GRACE)
        self.settle()
        self.assertEqual(self.view.codes, [1])
        self.assertIn("2 line(s) not sent", self.view.errors[-1])


class AnsweredTests(SessionTestCase):
    """
    Each private message sent is answered by the server (issue 16):
    C{delivered}, C{queued} or a refusal, in order; the view is told which,
    so that it shows the message as sent only once it is.
    """

    def test_answers_in_order(self) -> None:
        """
        C{delivered} is not shown, only answered; C{queued} is both; a
        refusal a private message can get answers it, another error (an
        earlier command's) does not.
        """
        session, transport = self.joined()
        for line in ("bob*one", "/dm erin two", "dave*three", "/join #x"):
            session.input_line(line)
        transport.receive_event("delivered", to="bob")
        transport.receive_event("queued", to="erin", id=4, text="* erin is offline")
        transport.receive_event("error", code="invalid-room", text="bad room")
        self.assertEqual(self.view.answers, [True, True])
        transport.receive_event("error", code="no-such-user", text="dave is not")
        self.assertEqual(self.view.answers, [True, True, False])
        self.assertEqual([e["type"] for e in self.view.events], ["welcome", "queued"])
        self.assertEqual(len(self.view.errors), 2)
        # Nothing waits: a stray receipt answers nothing.
        transport.receive_event("delivered", to="bob")
        self.assertEqual(len(self.view.answers), 3)

    def test_lost_unconfirmed(self) -> None:
        """
        Private messages in flight when the connection drops are
        unconfirmed; one typed while away waits for the next connection's
        answer.
        """
        session, transport = self.joined()
        session.input_line("bob*one")
        session.input_line("bob*two")
        transport.receive_event("delivered", to="bob")
        transport.server_close(Failure(ConnectionLost("gone")))
        self.assertEqual(self.view.answers, [True, None])
        session.input_line("bob*three")
        self.clock.advance(30)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        self.welcome(again)
        self.assertIn("bob*three", again.sent())
        again.receive_event("delivered", to="bob")
        self.assertEqual(self.view.answers, [True, None, True])


class ResumeTests(SessionTestCase):
    """
    Resume (issue 16): a reconnection says the newest main-channel history
    id shown (C{/since}), and nothing with an id already shown is shown
    again.
    """

    def texts(self) -> list[str]:
        return [
            str(e.get("text"))
            for e in self.view.events
            if e["type"] in ("message", "action")
        ]

    def reconnect(
        self, session: ClientSession, transport: FakeTransport
    ) -> FakeTransport:
        transport.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(30)
        again = self.endpoint.last
        self.assertIsNot(again, transport)
        return again

    def test_since_and_no_repeats(self) -> None:
        """
        The first connection sends no C{/since}; after live messages and a
        replay, the reconnection sends the newest main id, and lines
        replayed again (ids shown) are not shown twice; a room line's id
        does not move the main channel's.
        """
        session = self.make_session()
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["/mode json", "alice"])
        self.welcome(transport)
        transport.receive_event("message", text="old", history=True, id=3)
        transport.receive_event("history-end", count=1)
        transport.receive_event("message", **{"from": "bob"}, text="live", id=4)
        transport.receive_event("action", **{"from": "bob"}, text="waves", id=5)
        transport.receive_event(
            "message", **{"from": "bob"}, text="r", room="#go", id=6
        )
        again = self.reconnect(session, transport)
        again.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(again.sent(), ["/mode json", "/since 5", "alice"])
        self.welcome(again)
        # A server that ignored /since: nothing shown twice.
        again.receive_event("message", text="old", history=True, id=3)
        again.receive_event("message", text="live", history=True, id=4)
        again.receive_event("message", text="new", history=True, id=7)
        again.receive_event("message", text="r", room="#go", history=True, id=6)
        self.assertEqual(self.texts(), ["old", "live", "waves", "r", "new"])
        third = self.reconnect(session, again)
        third.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(third.sent(), ["/mode json", "/since 7", "alice"])

    def test_lost_history_forgotten(self) -> None:
        """
        A welcome whose newest history id is below the ids shown (an
        in-memory server restarted) makes the client forget them: the
        lines that get those ids again are shown.
        """
        session, transport = self.joined()
        transport.receive_event("message", **{"from": "bob"}, text="a", room="#r", id=1)
        again = self.reconnect(session, transport)
        again.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(again.sent(), ["/mode json", "alice"])
        again.receive_event(
            "welcome", name="alice", users=["alice"], count=1, history_id=0
        )
        again.receive_event("message", **{"from": "bob"}, text="b", room="#r", id=1)
        self.assertEqual(self.texts(), ["a", "b"])

    def test_ids_kept_are_bounded(self) -> None:
        """
        Only the newest L{SHOWN_IDS_KEPT} ids shown are remembered.
        """
        session, transport = self.joined()
        for i in range(1, SHOWN_IDS_KEPT + 3):
            transport.receive_event("message", **{"from": "bob"}, text="x", id=i)
        self.assertEqual(len(session._shown_history), SHOWN_IDS_KEPT)
        transport.receive_event("message", text="x", history=True, id=1)
        transport.receive_event("message", text="x", history=True, id=SHOWN_IDS_KEPT)
        # 1 was forgotten and is shown again; the newest are not.
        self.assertEqual(len(self.texts()), SHOWN_IDS_KEPT + 3)

    def test_history_asked_is_shown(self) -> None:
        """
        Lines the user asks for with C{/history} are shown, even if shown
        before.
        """
        session, transport = self.joined()
        transport.receive_event("message", **{"from": "bob"}, text="live", id=4)
        session.input_line("/history 5")
        transport.receive_event("message", text="live", history=True, id=4)
        transport.receive_event("history-end", count=1)
        transport.receive_event("message", text="live", history=True, id=4)
        self.assertEqual(self.texts(), ["live", "live"])

    def test_unknown_id_forgotten(self) -> None:
        """
        A server that does not know the id (its history was lost) makes the
        client forget its ids: the lines it replays are shown, and their
        ids are the ones the next reconnection says.
        """
        session, transport = self.joined()
        transport.receive_event("message", **{"from": "bob"}, text="live", id=4)
        again = self.reconnect(session, transport)
        again.receive_event(
            "error", code="unknown-history-id", text="there is no history id 4"
        )
        again.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(again.sent(), ["/mode json", "/since 4", "alice"])
        self.welcome(again)
        # The ids are the new server's now.
        again.receive_event("message", text="then", history=True, id=2)
        again.receive_event("message", text="now", history=True, id=4)
        self.assertEqual(self.texts(), ["live", "then", "now"])
        self.assertEqual(self.view.errors, [])
        third = self.reconnect(session, again)
        third.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(third.sent(), ["/mode json", "/since 4", "alice"])


class EndingTests(SessionTestCase):
    """
    How a session ends, and with which exit status.
    """

    def test_end_of_input_before_joining(self) -> None:
        """
        At the end of input before the welcome, the pending lines are sent
        after it, then C{/quit}; the session finishes with 0 once the
        server closes.
        """
        session = self.make_session()
        session.input_line("one")
        session.input_line("two")
        session.end_of_input()
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        self.assertEqual(
            transport.sent(), ["/mode json", "alice", "one", "two", "/quit"]
        )
        self.assertEqual(self.view.codes, [])
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.view.codes, [0])

    def test_end_of_input_when_joined(self) -> None:
        """
        At the end of input after joining, the session quits at once.
        """
        session, transport = self.joined()
        session.end_of_input()
        self.assertEqual(transport.sent(), ["/quit"])

    def test_quit_grace(self) -> None:
        """
        After C{/quit} the session finishes with 0 after L{QUIT_GRACE}
        seconds even if the server never closes, and does not reconnect.
        """
        session, transport = self.joined()
        session.input_line("/quit")
        self.clock.advance(QUIT_GRACE - 0.1)
        self.settle()
        self.assertEqual(self.view.codes, [])
        self.clock.advance(0.1)
        self.settle()
        self.assertEqual(self.view.codes, [0])
        self.assertTrue(transport.closed)
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)

    def test_first_connection_failure(self) -> None:
        """
        In scriptable mode a first connection that fails is reported as
        C{ERROR: Connection Failed.} and finishes with 1, without retrying.
        """
        self.endpoint.failures.append(ConnectionRefusedError())
        session = self.make_session()
        session.start()
        self.settle()
        self.assertEqual(len(self.view.errors), 1)
        self.assertTrue(
            self.view.errors[0].startswith("ERROR: Connection Failed."),
            self.view.errors[0],
        )
        self.assertEqual(self.view.codes, [1])
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)

    def test_first_connection_failure_interactive(self) -> None:
        """
        Interactively, a first failure is reported and the session keeps
        trying.
        """
        self.endpoint.failures.append(ConnectionRefusedError())
        session = self.make_session(interactive=True)
        session.start()
        self.settle()
        self.assertTrue(self.view.errors[0].startswith("ERROR: Connection Failed."))
        self.assertEqual(self.view.codes, [])
        self.clock.advance(2)
        self.assertEqual(self.endpoint.attempts, 2)
        self.assertTrue(session.status.connected)

    def test_tls_failure_is_fatal(self) -> None:
        """
        A TLS connection lost before its handshake completed is an error:
        the session finishes with 1 and never retries (so never without
        TLS).  OpenSSL's words are kept when there is nothing better to say.
        """
        session = self.make_session(tls=True)
        session.start()
        transport = self.endpoint.last
        transport.server_close(Failure(ConnectionLost("no shared cipher")))
        self.settle()
        self.assertEqual(len(self.view.errors), 1)
        self.assertTrue(self.view.errors[0].startswith("ERROR: TLS failed"))
        self.assertIn("no shared cipher", self.view.errors[0])
        self.assertEqual(self.view.codes, [1])
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)

    def tls_error(self, error: Exception) -> str:
        """
        The one error a TLS session reports when its handshake fails with
        C{error}; it finishes with 1.
        """
        self.reset()
        session = self.make_session(tls=True)
        session.start()
        self.endpoint.last.server_close(Failure(error))
        self.settle()
        self.assertEqual(self.view.codes, [1])
        [error_line] = self.view.errors
        return error_line

    def test_tls_untrusted_certificate(self) -> None:
        """
        A certificate that does not verify is said to be untrusted, with
        C{--cafile} suggested, rather than in OpenSSL's words.
        """
        line = self.tls_error(
            SSL.Error([("SSL routines", "", "certificate verify failed")])
        )
        self.assertEqual(
            line,
            f"ERROR: TLS failed: the certificate of {SERVER} is not trusted "
            "(self-signed, or from an authority this system does not know); "
            "not connecting without TLS. If you trust it, give its "
            "certificate (or its authority's) with --cafile FILE.",
        )

    def test_tls_to_plain_port(self) -> None:
        """
        A port that answers TLS with plain text is said not to speak TLS,
        whichever words the OpenSSL version uses.
        """
        for words in ("wrong version number", "record layer failure"):
            line = self.tls_error(SSL.Error([("SSL routines", "", words)]))
            self.assertEqual(
                line,
                f"ERROR: TLS failed: {SERVER} does not speak TLS (a plain-text "
                "port?); give the server's TLS port.",
            )

    def test_tls_other_host(self) -> None:
        """
        A trusted certificate for another host name is said to be that.
        """
        line = self.tls_error(
            VerificationError(errors=[DNSMismatch(mismatched_id=DNS_ID("localhost"))])
        )
        self.assertIn(f"the certificate of {SERVER} is for another host name", line)


class ScriptViewTests(SessionTestCase):
    """
    The scriptable view over a session: plain lines out, stdin lines in.
    """

    def setUp(self) -> None:
        super().setUp()
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.script_view = ScriptView(self.out, self.err)

    def script_session(self, name: str | None) -> tuple[ClientSession, StdinReader]:
        session = ClientSession(
            self.script_view,
            self.endpoint,
            server=SERVER,
            tls=False,
            clock=self.clock,
            name=name,
        )
        self.script_view.session = session
        codes: list[int] = []
        self.script_view.when_finished(codes.append)
        reader = StdinReader(self.script_view, session)
        reader.makeConnection(StringTransport())
        return session, reader

    def test_events_and_errors(self) -> None:
        """
        Events are printed as plain lines on the output, errors on the error
        stream.
        """
        session, reader = self.script_session("alice")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        transport.receive_event("private", **{"from": "bob"}, to="alice", text="psst")
        transport.receive_event("error", code="usage", text="usage: /dm NAME TEXT")
        self.assertEqual(
            self.out.getvalue().splitlines(),
            ["* joined as alice; 2 online: alice, bob", "[private] bob: psst"],
        )
        self.assertEqual(self.err.getvalue(), "ERROR: usage: /dm NAME TEXT\n")

    def test_name_refused_with_input_open(self) -> None:
        """
        A script's refused name is said once and ends the session with 1:
        its next input line is a message, never taken for a name.
        """
        session, reader = self.script_session("alice")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("error", code="name-in-use", text="taken.")
        reader.dataReceived(b"hello\n")
        self.settle()
        self.assertEqual(self.err.getvalue(), "ERROR: taken.\n")
        self.assertEqual(transport.sent(), ["/mode json", "alice"])
        self.assertEqual(self.script_view.code, 1)
        self.assertTrue(transport.closed)

    def test_name_refused_after_end_of_input(self) -> None:
        """
        A name refused once the input has ended is said once (not followed
        by a misleading "no name given") and ends the session with 1.
        """
        session, reader = self.script_session("alice")
        reader.dataReceived(b"hello\n")
        reader.connectionLost(Failure(ConnectionDone()))
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("error", code="name-in-use", text="taken.")
        self.settle()
        self.assertEqual(self.err.getvalue(), "ERROR: taken.\n")
        self.assertEqual(self.script_view.code, 1)

    def test_first_line_is_the_name(self) -> None:
        """
        Without C{--name}, the first input line is the name even when it is
        read before the server's prompt (as a pipe's lines are); it is sent
        once, at the prompt, and the next lines are messages.
        """
        session, reader = self.script_session(None)
        session.start()
        reader.dataReceived(b"bob\nhello\n")
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["/mode json", "bob"])
        self.welcome(transport, "bob")
        self.assertEqual(transport.sent(), ["hello"])
        self.assertEqual(self.err.getvalue(), "")

    def test_name_after_connect(self) -> None:
        """
        With C{--no-connect} and no C{--name}, C{CONNECT} comes first and
        the line after it is the name.
        """
        session, reader = self.script_session(None)
        session.wait_for_connect()
        reader.dataReceived(b"CONNECT\nbob\nSEND hi\n")
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport, "bob")
        self.assertEqual(transport.sent(), ["/mode json", "bob", "/bm hi"])

    def test_no_name_at_end_of_input(self) -> None:
        """
        Without C{--name}, a script whose input ends before any name is
        given finishes with 2 and says so.
        """
        session, reader = self.script_session(None)
        session.start()
        reader.connectionLost(Failure(ConnectionDone()))
        self.endpoint.last.receive_event("prompt", prompt="name", text="name?")
        self.settle()
        self.assertEqual(
            self.err.getvalue(), "ERROR: no name given before the end of input\n"
        )
        self.assertEqual(self.script_view.code, 2)

    def test_control_characters_escaped(self) -> None:
        """
        Control characters in what others send are printed escaped, as the
        server's text mode escapes them: an escape sequence cannot reach
        the terminal, a newline cannot forge a second event, a
        bidirectional control cannot reorder the line.  Tabs stay.
        """
        session, reader = self.script_session("alice")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.welcome(transport)
        transport.receive_event(
            "message",
            **{"from": "bob"},
            text="\x1b[2Jgone\rfake\nalice: hi\x07\tend\u202eevil\x9b",
        )
        transport.receive_event(
            "private", **{"from": "bob"}, to="alice", text="\x1b]52;c;aGk=\x07"
        )
        transport.receive_event("error", code="usage", text="bad \x1b[31m")
        self.assertEqual(
            self.out.getvalue().splitlines()[1:],
            [
                "bob: ^[[2Jgone^Mfake^Jalice: hi^G\tend<U+202E>evil<U+009B>",
                "[private] bob: ^[]52;c;aGk=^G",
            ],
        )
        self.assertEqual(self.err.getvalue(), "ERROR: bad ^[[31m\n")


class ConnectCommandTests(SessionTestCase):
    """
    C{/connect [HOST [PORT]]} reconnects by hand.
    """

    def test_connect_elsewhere(self) -> None:
        """
        C{/connect HOST PORT} drops the connection, connects to the endpoint
        built for that address, rejoins under the same name and shows the
        new server in the status line.
        """
        other = FakeEndpoint(self.clock)
        asked: list[tuple[str, int]] = []

        def endpoint_for(host: str, port: int) -> tuple[FakeEndpoint, str]:
            asked.append((host, port))
            return other, f"{host}:{port}"

        session = ClientSession(
            self.view,
            self.endpoint,
            server=SERVER,
            tls=False,
            clock=self.clock,
            name="alice",
            endpoint_for=endpoint_for,
        )
        session.start()
        first = self.endpoint.last
        first.receive_event("prompt", prompt="name", text="name?")
        self.welcome(first)
        session.input_line("/connect example.org 4040")
        self.settle()
        self.assertEqual(asked, [("example.org", 4040)])
        self.assertEqual(other.attempts, 1)
        other.last.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(other.last.sent(), ["/mode json", "alice"])
        self.assertEqual(session.status.server, "example.org:4040")
        self.assertIn("connecting to example.org:4040", self.view.notices)
        self.assertEqual(self.view.codes, [])

    def test_connect_bad_port(self) -> None:
        """
        A port that is not a number is refused with the usage.
        """
        session, _ = self.joined()
        session.input_line("/connect host port")
        self.assertEqual(self.view.errors, ["ERROR: usage: /connect [HOST [PORT]]"])


class OptionsTests(SynchronousTestCase):
    """
    C{chat-client}'s command line.
    """

    def test_defaults(self) -> None:
        """
        With no arguments: localhost, 55555, plain TCP, no name.
        """
        options = ClientOptions([])
        self.assertEqual(
            (options["host"], options["port"], options["tls"], options["name"]),
            ("localhost", 55555, False, None),
        )

    def test_options_after_positionals(self) -> None:
        """
        The documented form C{chat-client HOST PORT --name NAME} parses.
        """
        options = ClientOptions(["example.org", "4040", "--name", "bob"])
        self.assertEqual(
            (options["host"], options["port"], options["name"]),
            ("example.org", 4040, "bob"),
        )

    def test_no_bell(self) -> None:
        """
        The bell for mentions rings unless C{--no-bell} (issue 16).
        """
        self.assertTrue(ClientOptions([])["bell"])
        self.assertFalse(ClientOptions(["--no-bell"])["bell"])

    def test_cafile_implies_tls(self) -> None:
        """
        C{--cafile} turns TLS on; with C{--connect} it is refused.
        """
        self.assertTrue(ClientOptions(["--cafile", "ca.pem"])["tls"])
        self.assertRaises(
            UsageError, ClientOptions, ["--cafile", "ca.pem", "--connect", "tls:h:1"]
        )

    def test_tls_endpoint_verifies(self) -> None:
        """
        HOST PORT with C{--cafile} builds a TLS endpoint labelled with the
        address; without C{--tls} it is plain.
        """
        cert, _ = make_certificate(self.mktemp())
        reactor = MemoryReactorClock()
        endpoint, label = make_endpoint(
            reactor, ClientOptions(["--cafile", cert]), "localhost", 5
        )
        self.assertEqual(label, "localhost:5")
        wrapper = endpoint._wrapperFactory(Factory())  # type: ignore[attr-defined]
        self.assertIsInstance(wrapper, TLSMemoryBIOFactory)
        plain_endpoint, _ = make_endpoint(reactor, ClientOptions([]), "localhost", 5)
        self.assertIsInstance(plain_endpoint, HostnameEndpoint)


class AccountFormatTests(SynchronousTestCase):
    """
    L{plain} for the events of accounts, offline messages and history:
    marked, with the time (UTC) a message was sent, from the fields.
    """

    def test_stored(self) -> None:
        """
        A stored private message is marked with the date and time it was
        sent; a stored action reads as an action.
        """
        sent = {"from": "alice", "to": "bob", "stored": True, "id": 17}
        stored = {**event("private", **sent, text="hi"), "time": "2026-11-20T14:03:00Z"}
        self.assertEqual(plain(stored), "[stored, sent 2026-11-20 14:03] alice: hi")
        waves = {**stored, "text": "waves", "action": True}
        self.assertEqual(plain(waves), "[stored, sent 2026-11-20 14:03] * alice waves")

    def test_history(self) -> None:
        """
        History messages and actions are marked with the time they were
        said.
        """
        said = {"from": "alice", "history": True, "room": None}
        self.assertEqual(
            plain(event("message", **said, text="hi")), "[history 15:48] alice: hi"
        )
        self.assertEqual(
            plain(event("action", **said, text="waves")),
            "[history 15:48] * alice waves",
        )

    def test_ends(self) -> None:
        """
        The end of a history replay and of the stored messages are notices;
        no stored messages at all shows nothing.
        """
        self.assertEqual(
            plain(event("history-end", count=2, room=None)),
            "* end of history (2 messages)",
        )
        self.assertEqual(
            plain(event("history-end", count=0, room=None)), "* no history yet"
        )
        self.assertEqual(
            plain(event("stored-end", count=1)), "* 1 message was waiting for you"
        )
        self.assertEqual(
            plain(event("stored-end", count=3)), "* 3 messages were waiting for you"
        )
        self.assertIsNone(plain(event("stored-end", count=0)))

    def test_queued_and_account(self) -> None:
        """
        Queued and account events are one-line notices; an account change
        over a connection without TLS carries a warning.
        """
        self.assertEqual(
            plain(event("queued", to="bob", id=17, text="* bob is offline; ...")),
            "* bob is offline; your message was stored for them",
        )
        self.assertEqual(
            plain(event("account", action="registered", name="bob", insecure=False)),
            "* bob is now registered; it needs your password from now on",
        )
        changed = plain(
            event("account", action="password-changed", name="bob", insecure=True)
        )
        self.assertEqual(
            changed,
            "* the password of bob was changed (warning: the password travelled "
            "in clear, without TLS)",
        )
        self.assertEqual(
            plain(event("account", action="unregistered", name="bob")),
            "* bob is no longer registered",
        )

    def test_password_prompt_silent(self) -> None:
        """
        A password prompt is not a line of output: the session handles it.
        """
        prompt = event("prompt", prompt="password", name="bob", text="Password:")
        self.assertIsNone(plain(prompt))


class MaskTests(SessionTestCase):
    """
    Account commands carry passwords: they are sent as typed but echoed
    masked.
    """

    def test_masked(self) -> None:
        """
        L{masked} replaces every argument of an account command, whatever
        its length, and leaves other lines alone.
        """
        self.assertEqual(masked("/register hunter22"), "/register ********")
        self.assertEqual(
            masked("/password old-pw  n3w-passw0rd"), "/password ******** ********"
        )
        self.assertEqual(masked("/UNREGISTER pw"), "/UNREGISTER ********")
        self.assertEqual(masked("/register"), "/register")
        for line in ("/dm bob hunter22", "register hunter22", "/help register"):
            self.assertIsNone(masked(line), line)

    def test_echo_masked(self) -> None:
        """
        The view is told about account commands with their passwords
        masked; the server gets them as typed.
        """
        session, transport = self.joined()
        lines = ["/register hunter22", "/password hunter22 s3cret!", "/unregister x1"]
        for line in lines:
            session.input_line(line)
        self.assertEqual(transport.sent(), lines)
        self.assertEqual(
            self.view.saids,
            [
                Said("command", "/register ********", None, "register"),
                Said("command", "/password ******** ********", None, "password"),
                Said("command", "/unregister ********", None, "unregister"),
            ],
        )

    def test_not_shifted(self) -> None:
        """
        The shift cipher leaves account commands alone.
        """
        session, transport = self.joined(shift_cipher=True)
        session.input_line("/register hunter22")
        self.assertEqual(transport.sent(), ["/register hunter22"])


class PasswordTests(SessionTestCase):
    """
    Logging in under a registered name.
    """

    def password_prompt(self, transport: FakeTransport, insecure: bool = True) -> None:
        transport.receive_event(
            "prompt",
            prompt="password",
            name="alice",
            insecure=insecure,
            text="* alice is a registered name; enter its password.\nPassword:",
        )

    def log_in(
        self, transport: FakeTransport, password: str | None = "hunter22"
    ) -> list[str]:
        """
        Play a registered login up to the welcome (no stored messages);
        what the client sent.
        """
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport)
        sent = transport.sent()
        self.welcome(transport)
        transport.receive_event("stored-end", count=0)
        return sent + transport.sent()

    def test_given_password(self) -> None:
        """
        A password given to the session is sent when the server asks for
        it, without asking the view.
        """
        session = self.make_session(password="hunter22")
        session.start()
        sent = self.log_in(self.endpoint.last)
        self.assertEqual(sent, ["/mode json", "alice", "hunter22"])
        self.assertEqual(self.view.password_asks, [])
        self.assertTrue(session.status.connected)

    def test_asks_view(self) -> None:
        """
        Without a password the view is asked, with the name, whether it
        would travel in clear, and the server's text; its answer is sent.
        """
        session = self.make_session(interactive=True)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport, insecure=True)
        self.assertEqual(
            self.view.password_asks,
            [
                (
                    "alice",
                    True,
                    "* alice is a registered name; enter its password.\nPassword:",
                )
            ],
        )
        self.assertEqual(transport.sent(), ["/mode json", "alice"])
        session.submit_password("typed-pw")
        self.assertEqual(transport.sent(), ["typed-pw"])
        self.assertEqual(self.view.saids, [])

    def test_resent_on_reconnect(self) -> None:
        """
        A typed password is remembered and sent again when the session
        rejoins after a dropped connection.
        """
        session = self.make_session(interactive=True)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport)
        session.submit_password("typed-pw")
        self.welcome(transport)
        transport.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        again = self.endpoint.last
        self.assertIsNot(again, transport)
        self.assertEqual(self.log_in(again), ["/mode json", "alice", "typed-pw"])
        self.assertEqual(len(self.view.password_asks), 1)

    def test_given_password_resent_on_reconnect(self) -> None:
        """
        A password given to the session is sent again after a reconnection.
        """
        session = self.make_session(password="hunter22")
        session.start()
        self.log_in(self.endpoint.last)
        self.endpoint.last.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        self.assertEqual(
            self.log_in(self.endpoint.last), ["/mode json", "alice", "hunter22"]
        )

    def test_not_sent_to_another_server(self) -> None:
        """
        A password typed for one server is not sent to another one reached
        with C{/connect}: the view is asked again.
        """
        other = FakeEndpoint(self.clock)
        session = ClientSession(
            self.view,
            self.endpoint,
            server=SERVER,
            tls=False,
            clock=self.clock,
            name="alice",
            interactive=True,
            endpoint_for=lambda host, port: (other, f"{host}:{port}"),
        )
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport)
        session.submit_password("typed-pw")
        self.welcome(transport)
        session.input_line("/connect example.org 4040")
        self.settle()
        self.assertEqual(self.log_in(other.last), ["/mode json", "alice"])
        self.assertEqual(len(self.view.password_asks), 2)

    def test_wrong_password_script(self) -> None:
        """
        In scriptable mode a wrong password is reported and the session
        quits with 1; the name prompt that follows is not answered.
        """
        session = self.make_session(password="wrong-pw")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport)
        transport.receive_event(
            "error",
            code="wrong-password",
            text="wrong password for alice; enter a name again.",
        )
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["/mode json", "alice", "wrong-pw", "/quit"])
        self.assertEqual(
            self.view.errors, ["ERROR: wrong password for alice; enter a name again."]
        )
        self.assertEqual(self.view.asked, 0)
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.view.codes, [1])
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)

    def test_throttled_script(self) -> None:
        """
        Too many wrong passwords end a script's session with 1 as well.
        """
        session = self.make_session(password="hunter22")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event(
            "error", code="throttled", text="try again in 30 seconds."
        )
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(transport.sent(), ["/mode json", "alice", "/quit"])
        self.assertEqual(self.view.errors, ["ERROR: try again in 30 seconds."])
        self.clock.advance(QUIT_GRACE)
        self.settle()
        self.assertEqual(self.view.codes, [1])

    def test_wrong_password_interactive(self) -> None:
        """
        Interactively a wrong password is forgotten and the user asked for
        a name, then a password, again.
        """
        session = self.make_session(interactive=True, password="wrong-pw")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        self.password_prompt(transport)
        transport.receive_event(
            "error", code="wrong-password", text="wrong password for alice."
        )
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertGreaterEqual(self.view.asked, 1)
        self.assertEqual(transport.sent(), ["/mode json", "alice", "wrong-pw"])
        session.submit_name("alice")
        self.password_prompt(transport)
        self.assertEqual(len(self.view.password_asks), 1)
        session.submit_password("right-pw")
        self.assertEqual(transport.sent(), ["alice", "right-pw"])
        self.assertEqual(self.view.codes, [])

    def test_wrong_old_password_after_join(self) -> None:
        """
        A wrong password for C{/password} once joined is an ordinary error.
        """
        session = self.make_session(password="hunter22")
        session.start()
        self.log_in(self.endpoint.last)
        session.input_line("/password nope-nope newer-pw")
        self.endpoint.last.receive_event(
            "error", code="wrong-password", text="wrong password; nothing changed."
        )
        self.assertEqual(self.view.errors, ["ERROR: wrong password; nothing changed."])
        self.assertEqual(self.view.asked, 0)
        self.assertEqual(self.view.codes, [])

    def reconnect_password(self, session: ClientSession) -> list[str]:
        """
        Drop the connection, rejoin; what the client sent.
        """
        self.endpoint.last.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        return self.log_in(self.endpoint.last)

    def test_register_remembered(self) -> None:
        """
        After a successful C{/register} the new password answers the prompt
        after a reconnection; a refused one is not remembered.
        """
        session, transport = self.joined(interactive=True)
        session.input_line("/register short")
        transport.receive_event("error", code="usage", text="too short")
        session.input_line("/register hunter22")
        transport.receive_event(
            "account", action="registered", name="alice", insecure=True, text="*"
        )
        self.assertEqual(
            self.reconnect_password(session), ["/mode json", "alice", "hunter22"]
        )
        self.assertEqual(self.view.password_asks, [])

    def test_password_change_remembered(self) -> None:
        """
        After a successful C{/password OLD NEW} the new password is used.
        """
        session = self.make_session(password="hunter22")
        session.start()
        self.log_in(self.endpoint.last)
        session.input_line("/password hunter22 n3w-password")
        self.endpoint.last.receive_event(
            "account", action="password-changed", name="alice", text="*"
        )
        self.assertEqual(
            self.reconnect_password(session), ["/mode json", "alice", "n3w-password"]
        )

    def test_unregister_forgets(self) -> None:
        """
        After C{/unregister} the password is forgotten.
        """
        session = self.make_session(password="hunter22", interactive=True)
        session.start()
        self.log_in(self.endpoint.last)
        session.input_line("/unregister hunter22")
        self.endpoint.last.receive_event(
            "account", action="unregistered", name="alice", text="*"
        )
        self.assertEqual(self.reconnect_password(session), ["/mode json", "alice"])
        self.assertEqual(len(self.view.password_asks), 1)


class StoredTests(SessionTestCase):
    """
    Private messages stored while the user was offline are shown, then
    acknowledged with C{/ack ID [ID ...]}.
    """

    def stored(self, transport: FakeTransport, ident: int, text: str) -> None:
        transport.receive(
            json.dumps(
                {
                    "type": "private",
                    "time": "2026-11-20T14:03:00.000Z",
                    "from": "bob",
                    "to": "alice",
                    "text": text,
                    "id": ident,
                    "stored": True,
                    "action": False,
                }
            ).encode()
            + b"\n"
        )

    def start(self, **options: Any) -> tuple[ClientSession, FakeTransport]:
        """
        A session with a password, logged in up to the welcome.
        """
        session = self.make_session(password="hunter22", **options)
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(transport)
        transport.sent()
        return session, transport

    def test_shown_then_acked(self) -> None:
        """
        Each stored message is shown; at their end one C{/ack} line lists
        their ids.
        """
        session, transport = self.start()
        self.stored(transport, 17, "first")
        self.stored(transport, 18, "second")
        self.assertEqual(transport.sent(), [])
        transport.receive_event("stored-end", count=2, text="* 2 messages")
        self.assertEqual(transport.sent(), ["/ack 17 18"])
        shown = [(e["type"], e.get("id")) for e in self.view.events]
        self.assertEqual(
            shown,
            [("welcome", None), ("private", 17), ("private", 18), ("stored-end", None)],
        )

    def test_many_acks_batched(self) -> None:
        """
        Many ids are acknowledged in lines of at most L{ACK_BATCH}.
        """
        session, transport = self.start()
        for ident in range(1, ACK_BATCH + 3):
            self.stored(transport, ident, "x")
        transport.receive_event("stored-end", count=ACK_BATCH + 2)
        first, second = transport.sent()
        self.assertEqual(first, "/ack " + " ".join(map(str, range(1, ACK_BATCH + 1))))
        self.assertEqual(second, f"/ack {ACK_BATCH + 1} {ACK_BATCH + 2}")

    def test_redelivered_skipped(self) -> None:
        """
        A stored message delivered again (its acknowledgement was lost) is
        not shown twice, but acknowledged again.
        """
        session, transport = self.start()
        self.stored(transport, 17, "first")
        transport.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        again.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(again)
        self.stored(again, 17, "first")
        self.stored(again, 18, "second")
        again.receive_event("stored-end", count=2)
        self.assertEqual(
            again.sent(), ["/mode json", "alice", "hunter22", "/ack 17 18"]
        )
        texts = [e["text"] for e in self.view.events if e["type"] == "private"]
        self.assertEqual(texts, ["first", "second"])

    def test_unshifted(self) -> None:
        """
        Shifted stored text is unshifted like live private messages.
        """
        session, transport = self.start(shift_cipher=True)
        self.stored(transport, 5, cipher.MARKER + "zpaz")
        self.assertEqual(self.view.events[-1]["text"], "yozy")
        self.assertTrue(self.view.events[-1]["shifted"])

    def test_ack_before_quit_at_end_of_input(self) -> None:
        """
        Input that ended before the login does not make the session quit
        before the stored messages are acknowledged: C{/ack} comes before
        C{/quit}.
        """
        session = self.make_session(password="hunter22")
        session.input_line("hello")
        session.end_of_input()
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(transport)
        self.stored(transport, 17, "first")
        self.assertEqual(transport.sent(), ["/mode json", "alice", "hunter22", "hello"])
        transport.receive_event("stored-end", count=1)
        self.assertEqual(transport.sent(), ["/ack 17", "/quit"])
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.view.codes, [0])

    def test_end_of_input_after_welcome(self) -> None:
        """
        Input ending between the welcome and the end of the stored messages
        waits for them too.
        """
        session, transport = self.start()
        session.end_of_input()
        self.assertEqual(transport.sent(), [])
        self.stored(transport, 17, "first")
        transport.receive_event("stored-end", count=1)
        self.assertEqual(transport.sent(), ["/ack 17", "/quit"])

    def test_script_quit_waits(self) -> None:
        """
        A script's C{QUIT} read before the end of the stored messages waits
        for their acknowledgement.
        """
        session, transport = self.start()
        session.input_line("QUIT")
        self.assertEqual(transport.sent(), [])
        transport.receive_event("stored-end", count=0)
        self.assertEqual(transport.sent(), ["/quit"])

    def test_interactive_quit_acks_first(self) -> None:
        """
        Quitting before the end of the stored messages acknowledges those
        shown so far first.
        """
        session, transport = self.start(interactive=True)
        self.stored(transport, 17, "first")
        session.input_line("/quit")
        self.assertEqual(transport.sent(), ["/ack 17", "/quit"])

    def test_no_stored_end(self) -> None:
        """
        If the end of the stored messages never comes, a waiting quit goes
        ahead after L{CATCH_UP_GRACE} seconds, acknowledging what was shown.
        """
        session, transport = self.start()
        self.stored(transport, 17, "first")
        session.end_of_input()
        self.clock.advance(CATCH_UP_GRACE - 0.1)
        self.assertEqual(transport.sent(), [])
        self.clock.advance(0.1)
        self.assertEqual(transport.sent(), ["/ack 17", "/quit"])

    def test_store_failed(self) -> None:
        """
        A store failure instead of the stored messages ends the wait.
        """
        session, transport = self.start()
        session.end_of_input()
        transport.receive_event("error", code="store-failed", text="could not read")
        self.assertEqual(transport.sent(), ["/quit"])
        self.assertEqual(self.view.errors, ["ERROR: could not read"])

    def test_guest_quits_at_once(self) -> None:
        """
        A guest (no password asked) has no stored messages to wait for.
        """
        session, transport = self.joined()
        session.end_of_input()
        self.assertEqual(transport.sent(), ["/quit"])


class NewEventsScriptTests(SessionTestCase):
    """
    The new events in scriptable mode: one plain line each on stdout,
    refusals on stderr.
    """

    def setUp(self) -> None:
        super().setUp()
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.script_view = ScriptView(self.out, self.err)

    def script_session(self, password: str | None) -> ClientSession:
        session = ClientSession(
            self.script_view,
            self.endpoint,
            server=SERVER,
            tls=False,
            clock=self.clock,
            name="alice",
            password=password,
        )
        self.script_view.session = session
        StdinReader(self.script_view, session).makeConnection(StringTransport())
        session.start()
        self.endpoint.last.receive_event("prompt", prompt="name", text="name?")
        return session

    def test_missing_password(self) -> None:
        """
        Without a password for a registered name the script says how to
        give one, quits and finishes with 1.
        """
        self.script_session(None)
        transport = self.endpoint.last
        transport.receive_event(
            "prompt", prompt="password", name="alice", insecure=True, text="pw?"
        )
        self.assertEqual(
            self.err.getvalue(),
            "ERROR: alice is a registered name; give --password-file FILE or "
            "set CHAT_PASSWORD.\n",
        )
        self.assertEqual(transport.sent(), ["/mode json", "alice", "/quit"])
        transport.server_close(Failure(ConnectionDone()))
        self.settle()
        self.assertEqual(self.script_view.code, 1)
        self.assertEqual(self.out.getvalue(), "")

    def test_wrong_password(self) -> None:
        """
        A wrong password is the server's error on stderr and exit status 1.
        """
        self.script_session("wrong-pw")
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="password", name="alice", text="")
        transport.receive_event(
            "error", code="wrong-password", text="wrong password for alice."
        )
        transport.receive_event("prompt", prompt="name", text="name?")
        self.assertEqual(self.err.getvalue(), "ERROR: wrong password for alice.\n")
        self.clock.advance(QUIT_GRACE)
        self.settle()
        self.assertEqual(self.script_view.code, 1)

    def test_lines(self) -> None:
        """
        History, stored messages, their ends, queued and account notices
        are one line each on stdout; the stored message is acknowledged.
        """
        self.script_session("hunter22")
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="password", name="alice", text="")
        self.welcome(transport)
        transport.receive(
            b'{"type":"message","time":"2026-11-21T14:03:00.000Z","from":"carol",'
            b'"text":"earlier","history":true,"room":null}\n'
        )
        transport.receive_event("history-end", count=1, room=None)
        transport.receive(
            b'{"type":"private","time":"2026-11-21T14:03:00.000Z","from":"bob",'
            b'"to":"alice","text":"hi","id":17,"stored":true,"action":false}\n'
        )
        transport.receive_event("stored-end", count=1, text="* 1 message")
        transport.receive_event("queued", to="dave", id=18, text="* dave ...")
        transport.receive_event(
            "account", action="password-changed", name="alice", insecure=False
        )
        self.assertEqual(
            self.out.getvalue().splitlines(),
            [
                "* joined as alice; 2 online: alice, bob",
                "[history 14:03] carol: earlier",
                "* end of history (1 message)",
                "[stored, sent 2026-11-21 14:03] bob: hi",
                "* 1 message was waiting for you",
                "* dave is offline; your message was stored for them",
                "* the password of alice was changed",
            ],
        )
        self.assertEqual(transport.sent()[-1], "/ack 17")
        self.assertEqual(self.err.getvalue(), "")


class PasswordOptionTests(SynchronousTestCase):
    """
    Where C{chat-client} takes a password from: a file or the environment,
    never the command line.
    """

    def password_file(self, content: bytes) -> str:
        path = str(self.mktemp())
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_file(self) -> None:
        """
        The first line of C{--password-file}, without its line end, is the
        password; it wins over C{CHAT_PASSWORD}.
        """
        path = self.password_file(b"s3cret pw\r\nsecond line\n")
        options = ClientOptions(["--password-file", path])
        self.assertEqual(read_password(options, {}), "s3cret pw")
        self.assertEqual(
            read_password(options, {"CHAT_PASSWORD": "other"}), "s3cret pw"
        )

    def test_environment(self) -> None:
        """
        Without a file, C{CHAT_PASSWORD} is the password; empty or unset is
        none.
        """
        options = ClientOptions([])
        self.assertEqual(read_password(options, {"CHAT_PASSWORD": "env-pw"}), "env-pw")
        self.assertIsNone(read_password(options, {"CHAT_PASSWORD": ""}))
        self.assertIsNone(read_password(options, {}))

    def test_bad_file(self) -> None:
        """
        A missing file, or one whose first line is empty, is a usage error.
        """
        missing = ClientOptions(["--password-file", self.mktemp()])
        self.assertRaises(UsageError, read_password, missing, {})
        empty = ClientOptions(["--password-file", self.password_file(b"\nx\n")])
        self.assertRaises(UsageError, read_password, empty, {})

    def test_no_password_option(self) -> None:
        """
        C{--password} is refused with the reason, without repeating the
        value (nor taken as an abbreviation of C{--password-file}).
        """
        with self.assertRaises(UsageError) as caught:
            ClientOptions(["--password", "hunter22"])
        message = str(caught.exception)
        self.assertIn("--password-file", message)
        self.assertIn("CHAT_PASSWORD", message)
        self.assertNotIn("hunter22", message)

    def test_help_says_why(self) -> None:
        """
        The help of C{--password-file} says why there is no password option.
        """
        out = io.StringIO()
        _parser().print_help(out)
        help_text = " ".join(out.getvalue().split())
        self.assertIn("--password-file FILE", help_text)
        self.assertIn(
            "there is no password option because command lines show", help_text
        )
