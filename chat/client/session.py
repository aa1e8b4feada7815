# -*- test-case-name: tests.client.test_session,tests.client.test_rooms -*-
"""
One conversation with a txchat server, independent of how it is shown.

L{ClientSession} keeps the connection up (reconnecting with backoff and
rejoining under the same name, answering a registered name's password
prompt again), speaks the server's JSON mode, applies the shift cipher,
acknowledges stored private messages, keeps track of the rooms the user is
in (L{chat.client.rooms}) and puts it back in them after a reconnection,
sends and receives files (L{chat.client.files}), and tells an
L{IClientView} what happened.  Views hand it the lines the user typed.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.threads import deferToThread
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.client import cipher
from chat.client.files import MAX_RAW, Progress, ThreadRunner, Transfers
from chat.client.private import PrivatePast
from chat.client.rooms import Rooms
from chat.core.names import fold, is_name, is_room
from chat.lines.syntax import RoomSay, Say, Slash, Whisper, parse

# Lines typed while not joined wait for the (re)join, up to this many.
MAX_PENDING = 10_000
# Errors that send the user back to choosing a name.
NAME_ERRORS = frozenset({"invalid-name", "reserved-name", "name-in-use"})
# Errors that refuse a registered name's login; the server asks for a name
# again after them.
LOGIN_ERRORS = frozenset({"wrong-password", "throttled"})
# Errors that answer a /join the session sent to put the user back in a
# room after a reconnection.  The first means the server already did.
REJOIN_ERRORS = frozenset(
    {"already-in-room", "invite-only", "no-such-room", "invalid-room"}
)
# Sent after a registered user's welcome, to learn when the server has sent
# all that the login brought: the server answers lines in order, after that.
# Its answer (a "mode" event) is silent.
SYNC_LINE = "/mode json"
# The refusals a private message can get: one of them, while private
# messages wait for their answer, is the oldest one's.
WHISPER_REFUSALS: Final = frozenset(
    {
        "no-such-user",
        "queue-full",
        "store-failed",
        "bad-input",
        "usage",
        "not-joined",
        "throttled",
        "internal",
    }
)
# Seconds to wait for the server to close after /quit.
QUIT_GRACE = 5.0
# Seconds to keep trying to deliver lines left at the end of input.
PENDING_GRACE = 30.0
# Seconds to wait, after the welcome of a registered name, for the end of
# its stored messages before a pending quit goes ahead anyway.
CATCH_UP_GRACE = 10.0
# Resume (issue 16): how many history ids shown are remembered to drop
# repeats; a login's replays (10 a conversation, missed lines up to the
# server's limit) reach far less far back.
SHOWN_IDS_KEPT: Final = 10_000

# Stored-message ids acknowledged per /ack line (the server's lines are
# limited in length).
ACK_BATCH = 50
# Words that end the session (seeds 002, 003, 004 and the usual ones).
QUIT_WORDS = frozenset({"QUIT", "tata", "q", "/quit", "/exit"})
# Commands whose text is shifted by the cipher: /dm NAME TEXT and /cmd TEXT.
_TARGETED = frozenset({"dm", "msg"})
_TEXTUAL = frozenset({"bm", "me"})
# The client's own commands, for completion and /help.
CLIENT_COMMANDS = (
    "/connect",
    "/send",
    "/accept",
    "/decline",
    "/cancel",
    "CONNECT",
    "SEND",
    "QUIT",
)
SERVER_COMMANDS = (
    "/help",
    "/users",
    "/who",
    "/dm",
    "/msg",
    "/bm",
    "/me",
    "/history",
    "/join",
    "/leave",
    "/part",
    "/rooms",
    "/say",
    "/topic",
    "/invite",
    "/kick",
    "/op",
    "/deop",
    "/register",
    "/password",
    "/unregister",
    "/privacy",
    "/away",
    "/file",
    "/quit",
)
# Seed 003's answer to anything but its keywords while not connected
# (C{--no-connect}, or a C{CONNECT} that failed): exactly its text.
NOT_CONNECTED_HELP = "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands."
# File transfer commands the client carries out itself.
_FILE_COMMANDS = frozenset({"/send", "/accept", "/decline", "/cancel"})
# Account commands, and how many of their words are passwords (all of them).
_ACCOUNT_COMMANDS = {"register": 1, "password": 2, "unregister": 1}
# The answer to /mode json|text: chat-client reads JSON only; a text
# connection would leave it deaf (/mode #ROOM +i|-i goes to the server).
MODE_REFUSED = (
    "ERROR: chat-client speaks the server's JSON mode and keeps it (in text "
    "mode it would hear nothing); /mode json|text is for nc and telnet. "
    "/mode #ROOM +i|-i still works."
)
# What a password looks like when echoed: always the same length.
MASK = "********"


@dataclass(frozen=True)
class Said:
    """
    A message the user sent: what a view echoes, and what the cipher
    shifts.

    @ivar kind: C{"message"}, C{"private"} or C{"action"}; or
        C{"command"} for an account command, whose C{text} is the line
        with its passwords masked (see L{masked}).
    @ivar target: the recipient of a private message.
    @ivar command: the slash command it was typed as (C{dm}, C{bm}, C{say},
        ...), or C{None} for C{NAME*TEXT}, C{#room*TEXT}, C{ALL*TEXT} and
        plain lines.
    @ivar room: the room a message was sent to (C{kind} is C{"message"}).
    """

    kind: str
    text: str
    target: str | None = None
    command: str | None = None
    room: str | None = None


def classify(line: str) -> Said | None:
    """
    Classify a typed line with the server's own parser; C{None} for
    commands that are not messages.
    """
    command = parse(line)
    if isinstance(command, RoomSay):
        return Said("message", command.text, room=command.room)
    if isinstance(command, Whisper):
        return Said("private", command.text, command.target)
    if isinstance(command, Say):
        return Said("message", command.text)
    if not isinstance(command, Slash):
        return None
    if command.name in _TARGETED:
        target, _, text = command.args.lstrip().partition(" ")
        return Said("private", text, target, command.name) if text else None
    if command.name in _TEXTUAL and command.args:
        kind = "action" if command.name == "me" else "message"
        return Said(kind, command.args, None, command.name)
    if command.name == "say":
        room, _, text = command.args.lstrip().partition(" ")
        if is_room(room) and text:
            return Said("message", text, None, "say", room)
    return None


def masked(line: str) -> str | None:
    """
    C{line} with its passwords replaced by L{MASK} if it is an account
    command (C{/register PASSWORD}, C{/password OLD NEW},
    C{/unregister PASSWORD}), else C{None}: such lines are never shown or
    kept as typed.
    """
    command = parse(line)
    if not isinstance(command, Slash) or command.name not in _ACCOUNT_COMMANDS:
        return None
    word = line.partition(" ")[0]
    return " ".join([word] + [MASK] * len(command.args.split()))


def _new_password(line: str) -> tuple[str, str | None] | None:
    """
    For a well-formed account command, the C{account} event action that
    confirms it and the password the name has after it.
    """
    command = parse(line)
    if not isinstance(command, Slash):
        return None
    words = command.args.split()
    if _ACCOUNT_COMMANDS.get(command.name) != len(words):
        return None
    if command.name == "register":
        return "registered", words[0]
    if command.name == "password":
        return "password-changed", words[1]
    return "unregistered", None


@dataclass(frozen=True)
class Status:
    """
    What a status line shows.
    """

    server: str
    tls: bool
    connected: bool = False
    name: str | None = None
    users: int = 0


class IClientView(Protocol):
    """
    What a front end does for a L{ClientSession}.
    """

    def show(self, event: dict[str, Any]) -> None:
        """
        A server event (a JSON object, shift cipher already undone).
        """

    def notice(self, text: str) -> None:
        """
        Something the client itself has to say (connection state).
        """

    def said(self, said: Said) -> None:
        """
        The user sent a message (the server does not echo it back).
        """

    def error(self, text: str) -> None:
        """
        A refusal or failure; C{text} starts with C{ERROR:}.
        """

    def answered(self, accepted: bool | None) -> None:
        """
        The server answered the oldest private message the user sent that
        it had not answered yet: delivered or stored (C{True}), or refused
        (C{False}: its error is shown next); or the connection was lost
        before it did (C{None}: it may or may not have arrived).
        """

    def ask_name(self) -> None:
        """
        Ask the user for a name; answer with L{ClientSession.submit_name}.
        """

    def ask_password(self, name: str, insecure: bool, text: str) -> None:
        """
        C{name} is registered: ask for its password without showing it, and
        answer with L{ClientSession.submit_password}.

        @param insecure: the password would travel in clear (no TLS).
        @param text: the server's prompt, warning included.
        """

    def status_changed(self, status: Status) -> None:
        """
        The status line's facts changed.
        """

    def progress(self, progress: Progress) -> None:
        """
        A file transfer moved on, finished or failed (reported for every
        chunk: a view decides how often to show it).
        """

    def finished(self, code: int) -> None:
        """
        The session is over; exit with C{code}.
        """


@implementer(IHandshakeListener)
class ClientProtocol(LineReceiver):
    """
    The wire side: JSON lines in, typed lines out; and the raw bytes of
    files both ways, framed by the line before them (C{file-chunk} in,
    C{/file chunk} out).
    """

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.handshake_done = False
        self.heard = False  # any line from the server on this connection
        # The file-chunk whose raw bytes are being read, how many are
        # still to come, and those read so far.
        self._chunk: dict[str, Any] | None = None
        self._chunk_left = 0
        self._chunk_parts: list[bytes] = []

    def connectionMade(self) -> None:
        self.sendLine(b"/mode json")
        self.session.connection_made(self)

    def handshakeCompleted(self) -> None:
        self.handshake_done = True

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if text.startswith("{"):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                if event["type"] == "file-chunk":
                    self._chunk_announced(event)
                else:
                    self.session.event_received(event)
                return
        self.session.raw_line(text)

    def _chunk_announced(self, event: dict[str, Any]) -> None:
        """
        A C{file-chunk} line: exactly C{size} raw bytes follow it, then
        lines again.  Without a believable size the framing is lost, and so
        is the connection (the session reconnects and resumes).
        """
        size = event.get("size")
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not (0 <= size <= MAX_RAW)
        ):
            self.session.view.error(
                f"ERROR: the server sent a file chunk of size {size!r}; reconnecting"
            )
            assert self.transport is not None
            self.transport.loseConnection()
            return
        self.heard = True
        if size == 0:
            self.session.file_chunk(event, b"")
            return
        self._chunk, self._chunk_left, self._chunk_parts = event, size, []
        self.setRawMode()

    def rawDataReceived(self, data: bytes) -> None:
        """
        Bytes of the current chunk; what follows its last byte is lines
        again (it may have come in the same read).
        """
        piece, rest = data[: self._chunk_left], data[self._chunk_left :]
        self._chunk_parts.append(piece)
        self._chunk_left -= len(piece)
        if self._chunk_left:
            return
        event, self._chunk = self._chunk, None
        data, self._chunk_parts = b"".join(self._chunk_parts), []
        self.setLineMode()
        assert event is not None
        self.session.file_chunk(event, data)
        if rest:
            # Buffered by LineReceiver.dataReceived, which is running.
            self.dataReceived(rest)

    def send_frame(self, text: str, data: bytes) -> None:
        """
        A line and the raw bytes it announces, written together so that no
        other line comes between them.
        """
        assert self.transport is not None
        self.transport.writeSequence([text.encode("utf-8") + self.delimiter, data])

    def send(self, text: str) -> None:
        self.sendLine(text.encode("utf-8"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.session.connection_lost(self, reason)


@implementer(IStreamClientEndpoint)
class _Attempts:
    """
    An endpoint that knows whether a connection attempt is under way: a
    C{CONNECT} typed meanwhile must not cancel it (it is what the user
    asked for), while one typed during the backoff wait tries at once.
    """

    def __init__(self, endpoint: IStreamClientEndpoint) -> None:
        self.endpoint = endpoint
        self.under_way = False

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        self.under_way = True
        try:
            attempt = self.endpoint.connect(protocolFactory)
        except BaseException:
            self.under_way = False
            raise

        def ended(result: object) -> object:
            self.under_way = False
            return result

        return attempt.addBoth(ended)


class _Factory(Factory):
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    def buildProtocol(self, addr: object) -> ClientProtocol:
        return ClientProtocol(self.session)


class ClientSession:
    """
    The state of one user's conversation.

    @ivar users: names known to be online, for completion.
    @ivar rooms: the rooms heard of, and which the user is in.
    """

    # A password known for the name, and the server it is for (C{None}:
    # given on the command line, so for any server).  Kept in memory only,
    # to answer the password prompt again after a reconnection.
    _password: str | None = None
    _password_for: str | None = None

    def __init__(
        self,
        view: IClientView,
        endpoint: IStreamClientEndpoint,
        *,
        server: str,
        tls: bool,
        clock: IReactorTime,
        name: str | None = None,
        shift_cipher: bool = False,
        interactive: bool = False,
        endpoint_for: Callable[[str, int], tuple[IStreamClientEndpoint, str]]
        | None = None,
        password: str | None = None,
        download_dir: str = ".",
        auto_accept: bool = False,
        run_in_thread: ThreadRunner | None = None,
    ) -> None:
        """
        @param password: the password of C{name} if it is registered, sent
            when the server asks for it (to any server).
        @param download_dir: where accepted files are saved by default.
        @param auto_accept: receive every file offered, without asking.
        @param run_in_thread: runs the hashing of whole files;
            L{deferToThread} if C{None}.
        """
        self._view = view
        self.name = name
        self.shift_cipher = shift_cipher
        self.interactive = interactive
        self.users: set[str] = set()
        self.rooms = Rooms()
        self._clock = clock
        self._endpoint = endpoint
        self._endpoint_for = endpoint_for
        self._status = Status(server=server, tls=tls)
        self._protocol: ClientProtocol | None = None
        self._joined = False
        self._pending: deque[str] = deque()
        self._quitting = False
        self._quit_when_flushed = False
        self._quit_reason: str | None = None
        self._ever_connected = False
        self._service: ClientService | None = None
        self._attempts: _Attempts | None = None
        # Not connected and not trying: only CONNECT (or /connect) connects,
        # and a failed CONNECT comes back here (C{--no-connect}).
        self._idle = False
        self._manual = False
        self._quit_deadline: IDelayedCall | None = None
        self._give_up: IDelayedCall | None = None
        self._exit_code = 0
        self._password = password
        # The server asked for the password on this connection.
        self._awaiting_password = False
        # Logged in with a password on this connection, and the end of the
        # stored messages has not arrived yet.
        self._catching_up = False
        self._catch_up_call: IDelayedCall | None = None
        # Stored messages shown (per server), and those not yet acknowledged
        # on this connection.
        self._shown_stored: set[tuple[str, int]] = set()
        # Resume (issue 16): the history ids shown (per server), the
        # newest of the main channel's (sent as /since at every
        # reconnection), and the /history requests not answered yet
        # (their lines are shown even if shown before).
        self._shown_history: dict[tuple[str, int], None] = {}
        self._last_main_id: dict[str, int] = {}
        # ... and each room's newest, (server, folded room) -> id, for the
        # /join #room ID of a rejoin.
        self._last_room_id: dict[tuple[str, str], int] = {}
        self._history_asked = 0
        self._unacked: list[int] = []
        # Private messages sent on this connection the server has not
        # answered yet (delivered, queued or refused, in order).
        self._whispers = 0
        # Passwords of account commands sent, by the action confirming them.
        self._proposed: dict[str, str | None] = {}
        # Rooms the server said the user is in on this connection (folded).
        self._confirmed: set[str] = set()
        # The rooms of the /join lines sent to put the user back in its
        # rooms, not answered yet, in the order sent (answers come in order).
        self._rejoining: deque[str] = deque()
        # What to do when the answer (a "mode" event) to each SYNC_LINE
        # sent on this connection comes, in the order sent.  A registered
        # user's rejoin waits for one sent after the welcome: the server
        # puts registered users back in their rooms itself, in the burst of
        # events that the welcome starts.  A file offer is sent right after
        # one, so that the next answer after it is the offer's.
        self._barriers: deque[Callable[[], None]] = deque()
        self.transfers = Transfers(
            view,
            clock,
            barrier=self._send_barrier,
            run_in_thread=deferToThread if run_in_thread is None else run_in_thread,
            download_dir=download_dir,
            auto_accept=auto_accept,
            idle=self._transfers_idle,
        )
        # Private history (issue 16): a view with an attribute
        # fills_private_tabs true (the full-screen one) has each private
        # conversation filled with its past when it opens.
        self.private_past = PrivatePast(
            self._send, lambda: bool(getattr(self._view, "fills_private_tabs", False))
        )

    @property
    def view(self) -> IClientView:
        """
        The front end told what happens (the transfers report to it too).
        """
        return self._view

    @view.setter
    def view(self, view: IClientView) -> None:
        self._view = self.transfers.view = view

    # Lifecycle.

    def start(self) -> None:
        """
        Connect, and keep reconnecting with backoff until L{quit}.
        """
        self._idle = False
        self._attempts = _Attempts(self._endpoint)
        service = self._service = ClientService(
            self._attempts,
            _Factory(self),
            retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0),
            clock=self._clock,
        )
        if not self._ever_connected:
            # Before starting: an endpoint may fail synchronously.
            first = service.whenConnected(failAfterFailures=1)
            first.addErrback(self._first_connection_failed, service)
        service.startService()

    def wait_for_connect(self) -> None:
        """
        Do not connect until the user types C{CONNECT} (or C{/connect}), as
        seed 003's client does (C{--no-connect}); until then, and after a
        C{CONNECT} that failed, anything else is answered with
        L{NOT_CONNECTED_HELP}.
        """
        self._idle = self._manual = True
        self.view.notice(
            f"not connected; type CONNECT to connect to {self._status.server}"
        )

    def _first_connection_failed(
        self, failure: Failure, service: ClientService
    ) -> None:
        if self._ever_connected or self._quitting or service is not self._service:
            return  # not a failure: CONNECT or /connect replaced the attempt
        self.view.error(f"ERROR: Connection Failed. {failure.getErrorMessage()}")
        if not self.interactive:
            self.stop(1)
        elif self._manual:
            # Seed 003: back to waiting for CONNECT, not retrying.
            self._service = self._attempts = None
            self._idle = True
            self._clock.callLater(0, service.stopService)
            waiting = f" ({len(self._pending)} line(s) wait to be sent)"
            self.view.notice(
                "not connected; type CONNECT to try again"
                + (waiting if self._pending else "")
            )
        else:
            self.view.notice("retrying; type CONNECT or /connect to try now")

    def quit(self, reason: str = "", code: int = 0) -> None:
        """
        Leave: acknowledge the stored messages shown, ask the server to
        close (so every reply to what was sent arrives first), then finish
        with C{code}.
        """
        if self._quitting:
            return
        self._quitting = True
        self._exit_code = code
        if self._protocol is None:
            self.stop(code)
            return
        self._send_acks()
        self._protocol.send(f"/quit {reason}".rstrip())
        self._quit_deadline = self._clock.callLater(QUIT_GRACE, self.stop, code)

    def stop(self, code: int) -> None:
        """
        Stop connecting and finish with exit status C{code}.
        """
        self._quitting = True
        self.transfers.close()
        for call in (self._quit_deadline, self._give_up, self._catch_up_call):
            if call is not None and call.active():
                call.cancel()
        self._quit_deadline = self._give_up = self._catch_up_call = None
        service, self._service = self._service, None
        self._attempts = None
        if service is None:
            self.view.finished(code)
            return
        # Not from inside the service's own callbacks: it is not reentrant.
        self._clock.callLater(
            0,
            lambda: service.stopService().addBoth(lambda _: self.view.finished(code)),
        )

    def reconnect(self, host: str | None = None, port: int | None = None) -> None:
        """
        Drop the connection (if any) and connect again, now, possibly to
        another server.
        """
        if host is not None and self._endpoint_for is not None:
            self._endpoint, label = self._endpoint_for(host, port or 55555)
            if label != self._status.server:
                self.rooms.clear()  # another server's rooms: not rejoined
            self._status = replace(self._status, server=label)
        service, self._service = self._service, None
        self._attempts = None
        if service is not None:
            service.stopService()
        self._quitting = False
        self._exit_code = 0
        self.view.notice(f"connecting to {self._status.server}")
        self.start()

    # Input from the view.

    def opened_private(self, name: str) -> None:
        """
        The view opened a private conversation with C{name}: it is filled
        with its past, if the session is in (a request sent while away
        would be answered on a connection that no longer expects it; the
        first message after the rejoin asks then).
        """
        if self._joined and self._protocol is not None and is_name(name):
            self.private_past.opened(name)

    def input_line(self, line: str) -> None:
        """
        A line the user typed: client keywords, or a line for the server.
        """
        line = line.rstrip("\r\n")
        word, _, rest = line.partition(" ")
        if self._quit_reason is not None:
            return  # a script's QUIT is queued; nothing after it is sent
        if self._idle and not self._quitting and not self._offline_command(line):
            return
        if line in QUIT_WORDS or word in ("/quit", "/exit"):
            reason = rest if word in ("/quit", "/exit") else ""
            busy = self._pending or self._catching_up or self.transfers.busy()
            if busy and not self.interactive:
                # A script's earlier lines wait for the join, and its stored
                # messages for their acknowledgement: quit after them.
                self._quit_reason = reason
                self._quit_when_flushed = True
            else:
                self.quit(reason)
        elif line == "CONNECT":
            self._connect_keyword()
        elif word == "/connect":
            host, _, port = rest.strip().partition(" ")
            try:
                number = int(port) if port else None
            except ValueError:
                self.view.error("ERROR: usage: /connect [HOST [PORT]]")
                return
            self.reconnect(host or None, number)
        elif word == "SEND":
            if rest:
                self._send(self._outgoing(f"/bm {rest}"))
            else:
                self.view.error("ERROR: usage: SEND <message>")
        elif word.lower() == "/mode" and not rest.lstrip().startswith("#"):
            # The connection's output format is the client's to choose.
            self.view.error(MODE_REFUSED)
        elif word.lower() in _FILE_COMMANDS:
            self._file_command(word.lower(), rest.strip())
        elif word.lower() == "/file" and rest.split()[:1] == ["chunk"]:
            # Its raw bytes would be taken from the lines after it.
            self.view.error("ERROR: /file chunk is the client's own; use /send")
        elif line:
            if word.lower() == "/history":
                self._history_asked += 1
            self._send(self._outgoing(line))

    def _offline_command(self, line: str) -> bool:
        """
        Whether C{line} means something without a connection (and is for
        L{input_line} to carry out): C{CONNECT}, C{/connect}, the quit
        words and the file commands.  Anything else is answered here, as
        seed 003's client does; C{SEND} says how to connect first.
        """
        word = line.partition(" ")[0]
        if (
            line in QUIT_WORDS
            or line == "CONNECT"
            or word in ("/quit", "/exit", "/connect")
            or word.lower() in _FILE_COMMANDS
        ):
            return True
        if word == "SEND":
            self.view.error(
                f"ERROR: not connected; type CONNECT to connect to "
                f"{self._status.server} first"
            )
        elif line.strip():
            self.view.error(NOT_CONNECTED_HELP)
        return False

    def _connect_keyword(self) -> None:
        """
        C{CONNECT}: connect if not connected or waiting to retry; never
        break a connection or cancel an attempt under way (seed 003's
        scripts start with C{CONNECT}, and chat-client connects by itself).
        """
        if self._protocol is not None:
            self.view.notice(f"already connected to {self._status.server}")
        elif self._attempts is not None and self._attempts.under_way:
            self.view.notice(f"already connecting to {self._status.server}")
        else:
            self.reconnect()

    def _file_command(self, command: str, args: str) -> None:
        """
        C{/send NAME|#room PATH}, C{/accept ID [DIR]}, C{/decline ID},
        C{/cancel ID}.
        """
        first, _, more = args.partition(" ")
        more = _unquoted(more.strip())
        if command == "/send":
            if not first or not more:
                self.view.error("ERROR: usage: /send NAME|#room PATH")
            else:
                self.transfers.send(first, more)
            return
        if not (first.isascii() and first.isdigit()) or (more and command != "/accept"):
            usage = "ID [DIRECTORY]" if command == "/accept" else "ID"
            self.view.error(f"ERROR: usage: {command} {usage}")
            return
        ident = int(first)
        if command == "/accept":
            self.transfers.accept(ident, more or None)
        elif command == "/decline":
            if self.transfers.decline(ident):
                self._send(f"/file decline {ident}")
        elif self.transfers.cancel(ident):
            self._send(f"/file cancel {ident}")

    def _send_barrier(self, then: Callable[[], None]) -> None:
        """
        Send L{SYNC_LINE}, and call C{then} when its answer comes: every
        line sent before has been answered by then.
        """
        assert self._protocol is not None
        self._barriers.append(then)
        self._protocol.send(SYNC_LINE)

    def _transfers_idle(self) -> None:
        """
        The catch-up or the last transfer ended: a script that reached the
        end of its input may quit now.
        """
        if (
            self._quit_when_flushed
            and self._joined
            and not self._pending
            and not self._catching_up
            and not self.transfers.busy()
        ):
            self.quit(self._quit_reason or "")

    def file_chunk(self, event: dict[str, Any], data: bytes) -> None:
        """
        A C{file-chunk} event and its raw bytes, from the protocol.
        """
        self.transfers.chunk_received(event, data)

    def submit_name(self, name: str) -> None:
        """
        The user's answer to L{IClientView.ask_name}.
        """
        self.name = name.strip()
        if self._protocol is not None and not self._joined:
            self._protocol.send(self.name)

    def submit_password(self, password: str) -> None:
        """
        The user's answer to L{IClientView.ask_password}; also remembered
        (in memory) to log in again after a reconnection to this server.
        """
        self._remember_password(password)
        if self._protocol is not None and self._awaiting_password:
            self._send_password(password)

    def _send_password(self, password: str) -> None:
        assert self._protocol is not None
        self._awaiting_password = False
        self._catching_up = True
        self._protocol.send(password)

    def _remember_password(self, password: str) -> None:
        self._password = password
        self._password_for = self._status.server

    def _known_password(self) -> str | None:
        if self._password_for in (None, self._status.server):
            return self._password
        return None

    def _forget_password(self) -> None:
        """
        Forget the password: it was refused, or the name is no longer
        registered.
        """
        self._password = self._password_for = None

    def end_of_input(self) -> None:
        """
        No more input: send what is pending and finish the transfers under
        way, then quit.
        """
        busy = self.transfers.busy()
        if self._joined and not self._pending and not self._catching_up and not busy:
            self.quit()
        elif (
            self._protocol is None
            and not self._pending
            and not busy
            and self._ever_connected
        ):
            self.stop(0)  # nothing to send and nobody to say goodbye to
        else:
            self._quit_when_flushed = True
            if (self._pending or busy) and self._protocol is None:
                self._give_up = self._clock.callLater(PENDING_GRACE, self._abandon)

    def _abandon(self) -> None:
        self._give_up = None
        if self._joined or self._quitting:
            return
        what = f"{len(self._pending)} line(s) not sent"
        if self.transfers.busy():
            what += " and file transfers unfinished"
        self.view.error(
            f"ERROR: {what}: no connection to "
            f"{self._status.server} within {PENDING_GRACE:.0f} seconds"
        )
        self.stop(1)

    def _outgoing(self, line: str) -> str:
        """
        The wire form of a typed line (shifted if the cipher is on), after
        telling the view what the user said: the server does not echo a
        sender's own messages.
        """
        hidden = masked(line)
        if hidden is not None:
            command = line.partition(" ")[0][1:].lower()
            self.view.said(Said("command", hidden, None, command))
            proposed = _new_password(line)
            if proposed is not None:
                self._proposed[proposed[0]] = proposed[1]
            return line
        said = classify(line)
        if said is not None and said.kind == "private" and said.target:
            self.private_past.sent(said.target)
        if said is not None and said.text:
            self.view.said(said)
        if not self.shift_cipher or said is None or not said.text:
            return line
        shifted = cipher.encode(said.text)
        if said.command is not None:
            addressee = said.target if said.target is not None else said.room
            target = f"{addressee} " if addressee is not None else ""
            return f"/{said.command} {target}{shifted}"
        return line[: len(line) - len(said.text)] + shifted

    def _send(self, line: str) -> None:
        if self._joined and self._protocol is not None:
            self._send_now(self._protocol, line)
        elif len(self._pending) < MAX_PENDING:
            self._pending.append(line)
        else:
            self.view.error("ERROR: not connected and too many lines waiting")

    # Events from the protocol.

    def connection_made(self, protocol: ClientProtocol) -> None:
        self._protocol = protocol
        self._joined = False
        self._awaiting_password = False
        self._unacked = []
        self._confirmed.clear()
        self._rejoining.clear()
        self._barriers.clear()
        self.private_past.reset()
        self._history_asked = 0
        last = self._last_main_id.get(self._status.server)
        if last is not None:
            # Before the name (sent at the prompt): the main channel's
            # replay then holds only what was missed.
            protocol.send(f"/since {last}")
        self._ever_connected = True
        self._set_status(connected=True)

    def raw_line(self, text: str) -> None:
        """
        A line that is not a JSON event: the text-mode greeting, which
        precedes our C{/mode json}; nothing to show.
        """
        if self._protocol is not None:
            self._protocol.heard = True

    def event_received(self, event: dict[str, Any]) -> None:
        if self._protocol is not None:
            self._protocol.heard = True
        kind = event["type"]
        if kind == "prompt":
            self._prompted(event)
            return
        code = event.get("code")
        if kind == "error" and not self._joined and code in LOGIN_ERRORS:
            self._login_refused(event)
            return
        if kind == "error" and not self._joined and code in NAME_ERRORS:
            self.view.error(f"ERROR: {event.get('text', '')}")
            if not self.interactive:
                # A script's input is its messages, not another name: said
                # once, and the end (no second, misleading complaint).
                self.stop(1)
                return
            self.name = None
            self.view.ask_name()
            return
        if kind == "error" and code == "unknown-history-id":
            # Another server, or one whose history was lost: our ids mean
            # nothing there; the usual history is shown.
            self._forget_history()
            return
        if kind in ("message", "action") and self._seen_before(event):
            return
        if kind == "history-end" and self._history_asked and not event.get("missed"):
            self._history_asked -= 1
        if kind == "mode":
            if self._barriers:
                self._barriers.popleft()()
            return
        if self._joined and self.transfers.event_received(event):
            return
        stored_id: int | None = None
        if kind == "welcome":
            newest = event.get("history_id")
            if type(newest) is int and newest < self._newest_shown():
                # Ids of a history the server lost (an in-memory store
                # restarted): they will be given again, to other lines.
                self._forget_history()
            self._joined = True
            self.name = event.get("name", self.name)
            self.users = set(event.get("users") or ())
            self._set_status(name=self.name, users=int(event.get("count", 0)))
        elif kind == "join":
            self.users.add(event.get("name", ""))
            self._set_status(users=self._status.users + 1)
        elif kind == "leave":
            self.users.discard(event.get("name", ""))
            self._set_status(users=max(0, self._status.users - 1))
        elif kind == "users":
            self.users = set(event.get("users") or ())
            self._set_status(users=len(self.users))
        elif kind == "account":
            self._account_changed(str(event.get("action")))
        elif kind == "error" and self._rejoining and code in REJOIN_ERRORS:
            refused = self._rejoin_refused(str(code))
            if refused is not None:
                self.view.error(f"ERROR: {event.get('text', '')}")
                self.view.notice(f"could not rejoin {refused} after reconnecting")
            return
        elif kind.startswith("room"):
            room = self.rooms.update(event, self.name)
            if kind == "room-joined" and room is not None:
                self._confirmed.add(fold(room.name))
                if fold(room.name) in self._rejoining:
                    self._rejoining.remove(fold(room.name))
        if kind == "private" and event.get("stored"):
            stored_id = _stored_id(event)
            if stored_id is not None:
                self._unacked.append(stored_id)
                seen = (self._status.server, stored_id)
                if seen in self._shown_stored:
                    # Redelivered (our acknowledgement was lost): not shown
                    # twice, acknowledged again.
                    if not self._catching_up:
                        self._send_acks()
                    return
                self._shown_stored.add(seen)
        if kind in ("message", "private", "action") and self.shift_cipher:
            text, shifted = cipher.decode(str(event.get("text", "")))
            if shifted:
                event = {**event, "text": text, "shifted": True}
        replaced = self.private_past.answer(event)
        if replaced is not None:
            for shown in replaced:
                self.view.show(shown)
            return
        if kind == "private" and not event.get("history"):
            self.private_past.received(str(event.get("from")), str(event.get("text")))
        if kind in ("delivered", "queued") and self._whispers:
            self._whispers -= 1
            self.view.answered(True)
            if kind == "delivered":
                return
        if kind == "error":
            if self._whispers and event.get("code") in WHISPER_REFUSALS:
                self._whispers -= 1
                self.view.answered(False)
            self.view.error(f"ERROR: {event.get('text', '')}")
        else:
            self.view.show(event)
        if kind == "welcome":
            # A guest's rejoins go before the lines typed while away (which
            # may be for those rooms); the sign goes after them.  Either
            # way the answers to the rejoins are not mixed with others.
            if self._catching_up:
                self._catch_up_call = self._clock.callLater(
                    CATCH_UP_GRACE, self._caught_up
                )
                self._flush()
                self._sync()
            else:
                self._rejoin()  # the server never puts a guest back
                self._flush()
            if self._protocol is not None and not self._quitting:
                self.transfers.attach(self._protocol)
        elif kind == "stored-end" or (kind == "error" and code == "store-failed"):
            self._caught_up()
        elif stored_id is not None and not self._catching_up:
            self._send_acks()

    # Resume (issue 16).

    def _seen_before(self, event: dict[str, Any]) -> bool:
        """
        Whether C{event}, a message or action with a history id, was shown
        already (a replay after a reconnection): then it is not shown
        again, unless the user asked for it with C{/history}.  Remembers
        the newest id of the main channel's for the next C{/since}.
        """
        ident = event.get("id")
        if type(ident) is not int or ident <= 0:
            return False
        server = self._status.server
        seen = (server, ident)
        if seen in self._shown_history:
            return not (event.get("history") and self._history_asked)
        self._shown_history[seen] = None
        if len(self._shown_history) > SHOWN_IDS_KEPT:
            # The oldest: far older than any replay reaches.
            del self._shown_history[next(iter(self._shown_history))]
        room = event.get("room")
        if not room:
            if ident > self._last_main_id.get(server, 0):
                self._last_main_id[server] = ident
        elif type(room) is str:
            where = (server, fold(room))
            if ident > self._last_room_id.get(where, 0):
                self._last_room_id[where] = ident
        return False

    def _newest_shown(self) -> int:
        server = self._status.server
        return max((i for s, i in self._shown_history if s == server), default=0)

    def _forget_history(self) -> None:
        server = self._status.server
        self._last_main_id.pop(server, None)
        self._last_room_id = {
            where: ident
            for where, ident in self._last_room_id.items()
            if where[0] != server
        }
        self._shown_history = {s: None for s in self._shown_history if s[0] != server}

    def _prompted(self, event: dict[str, Any]) -> None:
        if self._quitting:
            return  # e.g. the name prompt after a refused password
        if event.get("prompt") != "password":
            self._awaiting_password = False
            if self.name:
                self.submit_name(self.name)
            else:
                self.view.ask_name()
            return
        self._awaiting_password = True
        password = self._known_password()
        if password is not None:
            self._send_password(password)
            return
        name = str(event.get("name") or self.name or "")
        insecure = bool(event.get("insecure", not self._status.tls))
        self.view.ask_password(name, insecure, str(event.get("text") or ""))

    def _login_refused(self, event: dict[str, Any]) -> None:
        """
        A wrong password, or too many: a script gives up (a wrong password
        stays wrong); a person is asked for a name, and then a password,
        again.
        """
        self._awaiting_password = self._catching_up = False
        if event.get("code") == "wrong-password":
            self._forget_password()
        self.view.error(f"ERROR: {event.get('text', '')}")
        if not self.interactive:
            self.quit(code=1)
            return
        self.name = None
        self.view.ask_name()

    def _account_changed(self, action: str) -> None:
        """
        An account command succeeded: remember the password that the name
        now has, for reconnections.
        """
        if action == "unregistered":
            self._proposed.clear()
            self._forget_password()
        elif action in self._proposed:
            password = self._proposed.pop(action)
            if password is not None:
                self._remember_password(password)

    def _caught_up(self) -> None:
        """
        The stored messages are all here (or will not come): acknowledge
        them, and go on with a quit that waited for them.
        """
        call, self._catch_up_call = self._catch_up_call, None
        if call is not None and call.active():
            call.cancel()
        self._catching_up = False
        self._send_acks()
        self._transfers_idle()

    def _sync(self) -> None:
        """
        A registered user with rooms to be back in: send L{SYNC_LINE}.  The
        server answers it only once it has sent everything the login
        brought (the rooms it put the user back in among them), so its
        answer is when to L{_rejoin} the others.
        """
        if self._protocol is not None and self.rooms.joined():
            self._send_barrier(self._rejoin)

    def _rejoin(self) -> None:
        """
        C{/join} every room the user was in that the server has not said it
        is back in on this connection: all of them for a guest, which loses
        its rooms when its connection drops.
        """
        if self._protocol is None or self._quitting:
            return
        server = self._status.server
        for room in self.rooms.joined():
            key = fold(room.name)
            if key not in self._confirmed:
                self._rejoining.append(key)
                # Only what it missed (the ids are checked again on arrival).
                last = self._last_room_id.get((server, key))
                since = "" if last is None else f" {last}"
                self._protocol.send(f"/join {room.name}{since}")

    def _rejoin_refused(self, code: str) -> str | None:
        """
        The oldest unanswered rejoin was refused with C{code}.  Already in
        the room means the server put the user back first: nothing to say.
        Otherwise the user is out of the room.

        @return: the room's name if the user is out of it, else C{None}.
        """
        key = self._rejoining.popleft()
        if code == "already-in-room":
            self._confirmed.add(key)
            return None
        room = self.rooms.get(key)
        if room is None:
            return key
        room.member = False
        return room.name

    def _send_acks(self) -> None:
        """
        Acknowledge the stored messages received on this connection:
        C{/ack ID [ID ...]}, at most L{ACK_BATCH} ids a line.
        """
        ids, self._unacked = self._unacked, []
        if self._protocol is None:
            return  # not acknowledged: the server sends them again
        for start in range(0, len(ids), ACK_BATCH):
            batch = ids[start : start + ACK_BATCH]
            self._protocol.send("/ack " + " ".join(str(i) for i in batch))

    def _send_now(self, protocol: ClientProtocol, line: str) -> None:
        """
        Send a line the user typed; a private message then waits for its
        answer (L{IClientView.answered}).
        """
        protocol.send(line)
        said = classify(line)
        if said is not None and said.kind == "private" and said.target:
            self._whispers += 1

    def _flush(self) -> None:
        protocol = self._protocol
        while self._pending and protocol is not None:
            self._send_now(protocol, self._pending.popleft())
        if (
            self._quit_when_flushed
            and not self._catching_up
            and not self.transfers.busy()
        ):
            self.quit(self._quit_reason or "")

    def connection_lost(self, protocol: ClientProtocol, reason: Failure) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._joined = False
        self._awaiting_password = self._catching_up = False
        self._unacked = []
        # Private messages sent but not answered: nobody will say now.
        for _ in range(self._whispers):
            self.view.answered(None)
        self._whispers = 0
        self._rejoining.clear()
        self._barriers.clear()
        self.transfers.detach()
        if self._catch_up_call is not None and self._catch_up_call.active():
            self._catch_up_call.cancel()
        self._catch_up_call = None
        self._set_status(connected=False)
        if self._quitting:
            if self._quit_deadline is not None:
                self.stop(self._exit_code)
            return
        if not protocol.heard and not (
            self._status.tls and not protocol.handshake_done
        ):
            self.view.error(
                f"ERROR: no chat server answered at {self._status.server} "
                f"({reason.getErrorMessage()}); is it a TLS port (--tls)?"
            )
            self.stop(1)
            return
        if self._status.tls and not protocol.handshake_done:
            self.view.error(tls_failure(self._status.server, reason))
            self.stop(1)
            return
        self.view.notice(f"connection lost ({reason.getErrorMessage()}); reconnecting")

    def _set_status(self, **changes: Any) -> None:
        self._status = replace(self._status, **changes)
        self.view.status_changed(self._status)

    @property
    def status(self) -> Status:
        return self._status


# What OpenSSL says when the peer's first bytes are not a TLS record: a
# plain-text server's greeting (OpenSSL 3.0 and 3.2+, 1.1.1).
_NOT_TLS = ("wrong version number", "record layer failure", "unknown protocol")


def tls_failure(server: str, reason: Failure) -> str:
    """
    The error line for a TLS handshake with C{server} that failed for
    C{reason}, saying what it means and what to do rather than OpenSSL's
    words (C{[('SSL routines', '', 'certificate verify failed')]}).
    """
    message = reason.getErrorMessage()
    if "certificate verify failed" in message:
        return (
            f"ERROR: TLS failed: the certificate of {server} is not trusted "
            "(self-signed, or from an authority this system does not know); "
            "not connecting without TLS. If you trust it, give its "
            "certificate (or its authority's) with --cafile FILE."
        )
    if any(words in message for words in _NOT_TLS):
        return (
            f"ERROR: TLS failed: {server} does not speak TLS (a plain-text "
            "port?); give the server's TLS port."
        )
    if "Mismatch" in message:  # service_identity's DNSMismatch, IPAddressMismatch
        return (
            f"ERROR: TLS failed: the certificate of {server} is for another "
            "host name; not connecting without TLS. Connect by a name the "
            "certificate is for."
        )
    return f"ERROR: TLS failed, not connecting without it: {message}"


def _stored_id(event: dict[str, Any]) -> int | None:
    ident = event.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool) and ident > 0:
        return ident
    return None


def _unquoted(text: str) -> str:
    """
    C{text} without one pair of surrounding quotes (a path with spaces
    may be typed quoted or not).
    """
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
