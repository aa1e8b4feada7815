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
from chat.client.format import plain
from chat.client.main import ClientOptions, make_endpoint
from chat.client.script import ScriptView, StdinReader
from chat.client.session import (
    PENDING_GRACE,
    QUIT_GRACE,
    ClientSession,
    Said,
    Status,
)
from tests.certs import make_certificate

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

    def show(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def said(self, said: Said) -> None:
        self.saids.append(said)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def ask_name(self) -> None:
        self.asked += 1

    def status_changed(self, status: Status) -> None:
        self.statuses.append(status)

    def finished(self, code: int) -> None:
        self.codes.append(code)


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

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1
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
        A name already taken is reported, the view is asked again, and the
        next name submitted is sent on the same connection.
        """
        session = self.make_session()
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
        for line in ("/users", "/help", "/dm bob", "/mode json"):
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
        TLS).
        """
        session = self.make_session(tls=True)
        session.start()
        transport = self.endpoint.last
        transport.server_close(Failure(ConnectionLost("certificate verify failed")))
        self.settle()
        self.assertEqual(len(self.view.errors), 1)
        self.assertTrue(self.view.errors[0].startswith("ERROR: TLS failed"))
        self.assertIn("certificate verify failed", self.view.errors[0])
        self.assertEqual(self.view.codes, [1])
        self.clock.advance(60)
        self.assertEqual(self.endpoint.attempts, 1)


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

    def test_next_line_answers_name_prompt(self) -> None:
        """
        After a refused name, the next input line is taken as the new name.
        """
        session, reader = self.script_session("alice")
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("error", code="name-in-use", text="taken.")
        self.assertEqual(self.err.getvalue(), "ERROR: taken.\nName: ")
        reader.dataReceived(b"alice2\nhello\n")
        self.assertEqual(transport.sent(), ["/mode json", "alice", "alice2"])
        self.welcome(transport, "alice2")
        self.assertEqual(transport.sent(), ["hello"])

    def test_name_refused_after_end_of_input(self) -> None:
        """
        A name refused once the input has ended cannot be answered: the
        session finishes with 2 instead of waiting forever.
        """
        session, reader = self.script_session("alice")
        reader.dataReceived(b"hello\n")
        reader.connectionLost(Failure(ConnectionDone()))
        session.start()
        transport = self.endpoint.last
        transport.receive_event("prompt", prompt="name", text="name?")
        transport.receive_event("error", code="name-in-use", text="taken.")
        self.settle()
        self.assertEqual(
            self.err.getvalue(),
            "ERROR: taken.\nERROR: no name given before the end of input\n",
        )
        self.assertEqual(self.script_view.code, 2)


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
