# -*- test-case-name: tests.lines.test_protocol -*-
"""
One connection of the line door: bytes in, through the framer and the
text syntax, onto the core's session; events out, rendered and written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from typing import Protocol as Structural

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    INegotiated,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.core.client import (
    CLOSED,
    LOGGING_IN,
    NAMELESS,
    ONLINE,
    PASSWORD,
    Batch,
    IConnection,
)
from chat.core.core import ChatCore
from chat.core.session import Session
from chat.errors import BadInput, BadUsage, ChatError, NeedsJSON, NotJoined
from chat.events import Event
from chat.lines.commands import COMMANDS, SlashCommands, chunk_header, parse_history_id
from chat.lines.events import Help, ModeChanged
from chat.lines.framing import TOO_LONG, Chunk, LineFramer, ending, whole_line
from chat.lines.output import Output, Outputs
from chat.lines.render import GREETING, MODES, encode
from chat.lines.syntax import RoomSay, Slash, Whisper, parse

_log: Final = Logger(namespace="chat.lines.protocol")
# Replies go out with CRLF until the client's first line shows its choice.
_DEFAULT_DELIMITER: Final = b"\r\n"
_GREETING_BYTES: Final = GREETING.encode() + _DEFAULT_DELIMITER
# The render key of a connection, one per (mode, terminator): a str, whose
# hash Python caches, the same object for every connection that uses it.
_KEYS: Final = {
    (mode, end): mode + end.decode()
    for mode in MODES
    for end in (b"\r\n", b"\n", b"\x00")
}
_DEFAULT_KEY: Final = _KEYS["text", _DEFAULT_DELIMITER]
# A line that is followed by raw bytes.
_CHUNK_LINE: Final = b"/file chunk "
# /file requests that carry file data: JSON mode only.
_BINARY: Final = frozenset({"offer", "resume", "get"})
_NEEDS_JSON: Final = "files travel in JSON mode only: use chat-client (or /mode json)."
# The commands the door carries out at the password prompt; any other line
# there is the password (none of these can be one: a password has at
# least six characters and no spaces).
_AT_PASSWORD: Final = frozenset({"quit", "exit", "help", "mode"})

# Other protocols on the chat port (text: issue 15).  A TLS record starts
# with its type, 0x16 for a handshake, then the major version, 3; no name
# or command starts with a control character.
_TLS_HANDSHAKE: Final = b"\x16"
# An HTTP request line (PRI: the HTTP/2 preface); no name holds a space.
_HTTP_REQUEST: Final = re.compile(
    rb"(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|CONNECT|PATCH|TRACE|PRI) \S+ HTTP/\d"
)
_HTTP_BODY: Final = (
    b"This is the port of a txchat chat server, not a web server.\r\n"
    b"Connect with nc, telnet or chat-client (openssl s_client on its TLS "
    b"port).\r\n"
)
_HTTP_RESPONSE: Final = (
    b"HTTP/1.0 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_HTTP_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"\r\n" + _HTTP_BODY
)


class LineDoor(Structural):
    """
    What every connection of the line door shares
    (L{chat.lines.factory.ChatFactory} is it).
    """

    core: ChatCore
    clock: IReactorTime
    commands: SlashCommands
    outputs: Outputs
    max_line_length: int
    #: Seconds a TLS handshake may take (issue 15, "conns").
    handshake_timeout: float

    #: The batch last rendered, and its renderings by render key.
    batch: Batch | None
    renderings: dict[str, bytes]

    def render(self, batch: Batch, key: str, mode: str, delimiter: bytes) -> bytes:
        """
        C{batch} rendered in C{mode}, with C{delimiter}: once per C{key}
        (the renderings of the last batch are kept).
        """

    def without(self, key: str, data: bytes, skip: Sequence[int]) -> bytes:
        """
        C{data}, the last batch rendered for C{key}, less the events at the
        indexes C{skip}.
        """

    # Mentions (issue 16, "mentions").

    def mentioned(self, batch: Batch, key: str) -> list[int]:
        """
        The indexes of the events of C{batch} that mention the user
        C{key} (L{chat.core.mentions}).
        """

    def with_mentions(
        self,
        batch: Batch,
        key: str,
        data: bytes,
        skip: Sequence[int] | None,
        hits: Sequence[int],
        mode: str,
        delimiter: bytes,
    ) -> bytes:
        """
        C{data}, C{batch} rendered for C{key}, less the events at C{skip}
        and with those at C{hits} rendered as mentions.
        """

    def watch(self, output: Output) -> None:
        """
        Check C{output} now and then for a peer that stopped reading.
        """

    def unwatch(self, output: Output) -> None:
        """
        Stop checking C{output}.
        """


def describe(address: object) -> str:
    """
    C{host:port} for IP addresses, C{repr} for anything else: for logs.
    """
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is None or port is None:
        return repr(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@implementer(IConnection, IHandshakeListener)
class ChatProtocol(Protocol):
    """
    One connected user of the line door.

    Lines end with LF, CRLF or NUL; replies use whichever the client's
    first line used.  C{/mode json} switches the output to JSON objects,
    one a line.  What a line means is the session's to carry out; this
    only frames, decodes, parses the syntax and renders.

    @ivar session: the core's session for this connection.
    @ivar mode: the output format, C{"text"} or C{"json"}.
    """

    CLOSE_GRACE: Final = 5.0
    #: Seconds a client dropped for not reading has to read why before
    #: its connection is aborted.
    OVERFLOW_GRACE: Final = 2.0

    transport: ITransport
    session: Session
    mode = "text"
    delimiter = _DEFAULT_DELIMITER
    # The session asked for no more input for now.
    _input_paused = False
    # ... but a password is checked: input is read and held meanwhile.
    _read_ahead = False
    # Inside the reading loop (a resume from within it must not start
    # another).
    _reading = False
    _lost = False
    # No byte was read yet: the first tells a TLS client (text: issue 15).
    _fresh = True

    # Dropped for not reading: told why once.
    _overflowing = False
    # No line was read yet: replies end with CRLF until the first one.
    _first = True
    _key = _DEFAULT_KEY
    _abort_call: IDelayedCall | None = None
    # Closing: what is delivered from now on is not sent.
    _closing = False
    # The TLS handshake must be done before this call.
    _handshake_call: IDelayedCall | None = None
    # The id and offset of the file chunk whose bytes are read now.
    _chunk = (0, 0)
    # Made when a read is not one whole line, dropped once it holds
    # nothing: an idle connection has none.
    _framer: LineFramer | None = None

    def __init__(self, door: LineDoor) -> None:
        self.door = door
        self.mode = "text"
        # Whether the output is JSON (mentions are flagged): read on every
        # delivery, so a flag on the instance (CPython 3.11 reads an
        # instance's own attribute several times faster than a class
        # default: the check cost 400 instructions a delivery as that).
        self._json = False

    # Twisted calls these, so they keep Twisted's names.

    def connectionMade(self) -> None:
        transport = self.transport
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        door = self.door
        core = door.core
        self._output = Output(transport, door.outputs, self)
        if self._output.watched:
            door.watch(self._output)
        peer = transport.getPeer()
        secure = INegotiated.providedBy(transport)
        if secure:
            # Until the handshake is done nothing can be said: a peer that
            # stalls it is dropped (handshakeCompleted cancels this).
            self._handshake_call = door.clock.callLater(
                door.handshake_timeout, self._handshake_timed_out
            )
        self.session = core.open_session(
            self, str(getattr(peer, "host", "unknown")), secure=secure
        )
        if self.session.state is CLOSED:
            return  # refused: it was told why, and closes
        if core.log_limiter.allow():
            _log.info("connection from {peer}", peer=describe(peer))
        self._output.write(_GREETING_BYTES)

    def handshakeCompleted(self) -> None:
        call, self._handshake_call = self._handshake_call, None
        if call is not None and call.active():
            call.cancel()

    def _handshake_timed_out(self) -> None:
        self._handshake_call = None
        door = self.door
        door.core.security_log.info(
            _log,
            "dropping {peer}: no TLS handshake within {timeout} seconds",
            peer=describe(self.transport.getPeer()),
            timeout=door.handshake_timeout,
        )
        self.abort()

    def __str__(self) -> str:
        # Where the client comes from, for the core's log lines.
        return describe(self.transport.getPeer())

    def dataReceived(self, data: bytes) -> None:
        if self._fresh:
            self._fresh = False
            if data[:1] == _TLS_HANDSHAKE and data[1:2] in (b"", b"\x03"):
                self._foreign("a TLS handshake", None)
                return
        framer = self._framer
        if framer is None and not self._input_paused:
            # The common case, one whole line: none of the machinery.
            line = whole_line(data, self.door.max_line_length)
            if line is not None:
                if self._first:
                    self._first_line(ending(data), line)
                if not self.transport.disconnecting:  # type: ignore[attr-defined]
                    self._line(line)
                return
        if framer is None:
            framer = self._framer = LineFramer(self.door.max_line_length)
        framer.feed(data)
        if self._read_ahead and framer.pending > self.door.max_line_length:
            # Enough held for the check to discard: the rest waits.
            self._read_ahead = False
            self.transport.pauseProducing()  # type: ignore[attr-defined]
        self._read()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._abort_call is not None and self._abort_call.active():
            self._abort_call.cancel()
        self._abort_call = None
        self.handshakeCompleted()
        self._lost = True
        self._framer = None
        self._output.drop()
        door = self.door
        if self._output.watched:
            door.unwatch(self._output)
        # (Through the limiter's info, which escapes the name and reason.)
        door.core.log_limiter.info(
            _log,
            "connection from {peer} closed ({name}): {reason}",
            peer=describe(self.transport.getPeer()),
            name=self.session.name,
            reason=reason.getErrorMessage(),
        )
        self.session.closed(delivered=reason.check(ConnectionDone) is not None)

    # Input.

    def _read(self) -> None:
        """
        Act on what the framer holds, until the session asks us to wait.
        """
        framer = self._framer
        if self._reading or framer is None:
            return
        self._reading = True
        transport = self.transport
        try:
            while not self._input_paused and not self._lost:
                if transport.disconnecting:  # type: ignore[attr-defined]
                    framer.clear()
                    break
                frame = framer.next()
                if frame is None:
                    break
                if type(frame) is bytes:
                    if self._first:
                        self._first_line(framer.terminator, frame)
                        if transport.disconnecting:  # type: ignore[attr-defined]
                            framer.clear()
                            break
                    self._line(frame)
                elif frame is TOO_LONG:
                    self._too_long()
                elif isinstance(frame, Chunk):
                    self._chunk_read(frame.data)
        finally:
            self._reading = False
        if framer.idle and self._framer is framer:
            self._framer = None

    def _first_line(self, terminator: bytes | None, line: bytes) -> None:
        """
        Replies end the way the client's first line ended: C{terminator}.
        An HTTP request (a browser, C{curl}) is answered as HTTP, once, and
        closed: it is no name.
        """
        self._first = False
        if _HTTP_REQUEST.match(line) is not None:
            self._foreign("an HTTP request", _HTTP_RESPONSE)
            return
        if terminator is not None and terminator != self.delimiter:
            self.delimiter = terminator
            self._key = _KEYS[self.mode, terminator]

    def _foreign(self, what: str, answer: bytes | None) -> None:
        """
        The client speaks another protocol (C{what}): send it C{answer}, if
        it can read one, and close, before any of its bytes become a name
        or a message.
        """
        self.door.core.security_log.info(
            _log,
            "closing {peer}: {what} on the chat port",
            peer=describe(self.transport.getPeer()),
            what=what,
        )
        self._framer = None
        self._first = False
        if answer is not None:
            self._output.write(answer)
        self.close()

    def _line(self, line: bytes) -> None:
        session = self.session
        if session.state is PASSWORD:
            self._password(session, line)
            return
        if line.startswith(_CHUNK_LINE):
            try:
                file_id, offset, length = chunk_header(
                    line, self.door.core.limits.chunk_max
                )
            except ChatError as e:
                session.refuse(e)
                return
            self._chunk = (file_id, offset)
            framer = self._framer
            if framer is None:
                framer = self._framer = LineFramer(self.door.max_line_length)
            framer.expect_raw(length)
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            session.refuse(
                BadInput("lines must be UTF-8 text; that line was discarded.")
            )
            return
        if not text or text.isspace():
            if session.state is NAMELESS:
                session.choose_name(text)  # asked again
            else:
                session.nothing()
            return
        command = parse(text)
        if isinstance(command, Slash):
            try:
                self._slash(session, command.name, command.args)
            except ChatError as e:
                session.refuse(e)
            return
        if session.state is not ONLINE:
            session.choose_name(text)
        elif isinstance(command, Whisper):
            if command.text:
                session.whisper(command.target, command.text)
            else:
                session.refuse(
                    BadUsage("empty message; usage: NAME*TEXT or /dm NAME TEXT")
                )
        elif isinstance(command, RoomSay):
            if command.text:
                session.say_in(command.room, command.text)
            else:
                session.refuse(
                    BadUsage("empty message; usage: #room*TEXT or /say #room TEXT")
                )
        else:
            session.say(command.text)

    def _password(self, session: Session, line: bytes) -> None:
        """
        A line at the password prompt: the password, whole, unless it is
        one of the door's own commands there (C{/quit}, C{/exit},
        C{/help}, C{/mode}).  It is never echoed, parsed as a message or a
        name, nor logged.
        """
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            session.refuse(
                BadInput("lines must be UTF-8 text; that line was discarded.")
            )
            return
        if text[:1] == "/":
            command = parse(text)
            if isinstance(command, Slash) and command.name in _AT_PASSWORD:
                try:
                    self._slash(session, command.name, command.args)
                except ChatError as e:
                    session.refuse(e)
                return
        session.log_in(text)

    def _slash(self, session: Session, name: str, args: str) -> None:
        """
        A slash command: the door's own (C{/help}, C{/mode json|text},
        C{/quit}), or a session request.

        @raise ChatError: if the door refuses it.
        """
        if name in ("quit", "exit"):
            session.quit(args.strip() or None)
            return
        online = session.state is ONLINE
        if name == "help":
            session.tell(Help(self.door.clock.seconds(), COMMANDS))
            if session.state is PASSWORD:
                session.ask_again()  # the next line is still the password
            return
        if name == "mode" and not (online and args.lstrip().startswith("#")):
            self._set_mode(session, args)
            return
        if name == "since":
            session.resume_after(parse_history_id(args))
            return
        handler = self.door.commands.handler(name)
        if not online:
            raise NotJoined(f"please enter your name before using /{name}.")
        if name == "file" and self.mode != "json":
            if args.strip().partition(" ")[0].lower() in _BINARY:
                raise NeedsJSON(_NEEDS_JSON)
        handler(session, args)

    def _set_mode(self, session: Session, args: str) -> None:
        mode = args.strip().lower()
        if not mode:
            raise BadUsage("usage: /mode json|text")
        if mode not in MODES:
            raise BadUsage(f"unknown mode {mode}; usage: /mode json|text")
        self.mode = mode
        self._json = mode == "json"
        self._key = _KEYS[mode, self.delimiter]
        now = self.door.clock.seconds()
        if session.state is not ONLINE:
            # Before the name, the mode says what the client is: a JSON
            # client acknowledges its stored messages itself.
            session.set_acknowledges(mode == "json")
        session.tell(ModeChanged(now, mode))
        if session.state is not ONLINE:
            session.ask_again()  # in the new format

    def _too_long(self) -> None:
        limit = self.door.max_line_length
        # (Logged as the session logs every refusal.)
        self.session.refuse(
            BadInput(f"line too long (the limit is {limit} bytes); it was discarded.")
        )

    def _chunk_read(self, data: bytes) -> None:
        """
        The raw bytes of a C{/file chunk}.
        """
        session = self.session
        file_id, offset = self._chunk
        if session.state is not ONLINE:
            session.refuse(NotJoined("please enter your name before using /file."))
        elif self.mode != "json":
            session.refuse(NeedsJSON(_NEEDS_JSON))
        else:
            session.file_chunk(file_id, offset, data)

    # IConnection

    def deliver(self, event: Event) -> None:
        if not self._lost and not self._closing:
            self._output.write(encode(event, self.mode, self.delimiter))

    def deliver_batch(self, batch: Batch, skip: Sequence[int] | None) -> None:
        if self._lost or self._closing:
            return
        door = self.door
        # Every recipient of a fan-out comes here: the rendering made for
        # the first one with this format is looked up inline.
        data = door.renderings.get(self._key) if batch is door.batch else None
        if data is None:
            data = door.render(batch, self._key, self.mode, self.delimiter)
        if self._json:
            # Mentions (issue 16): only a recipient named in the text gets
            # a rendering of its own.
            key = self.session.key
            if key is not None:
                hits = door.mentioned(batch, key)
                if hits:
                    self._output.gather(
                        door.with_mentions(
                            batch,
                            self._key,
                            data,
                            skip,
                            hits,
                            self.mode,
                            self.delimiter,
                        )
                    )
                    return
        if skip is not None:
            data = door.without(self._key, data, skip)
        self._output.gather(data)

    def pause_input(self) -> None:
        self._input_paused = True
        if self._lost:
            return
        if self.session.state is LOGGING_IN:
            # While a password is checked, what the client sends is read
            # and held (within a bound), not left in the socket: if the
            # password is wrong, what it sent ahead is discarded, and a
            # password retyped ahead must not wait in the kernel to be
            # read as a name once the check is over.
            self._read_ahead = True
            return
        self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_input(self) -> None:
        self._input_paused = False
        self._read_ahead = False
        if self._lost or self.transport.disconnecting:  # type: ignore[attr-defined]
            return
        self.transport.resumeProducing()  # type: ignore[attr-defined]
        self._read()

    def discard_input(self) -> bool:
        framer = self._framer
        if framer is None or self._lost:
            # (A whole line read at once holds nothing more.)
            return False
        return framer.discard()

    def close(self) -> None:
        self._output.flush()
        self._close(self.CLOSE_GRACE)

    def _close(self, grace: float) -> None:
        """
        Close once what was written is sent, or abort after C{grace}
        seconds; nothing delivered from now on is sent.
        """
        self._closing = True
        self.transport.loseConnection()
        if self._abort_call is None and not self._lost:
            # TLS waits for the peer's close_notify; do not wait forever.
            self._abort_call = self.door.clock.callLater(
                grace,
                self.transport.abortConnection,  # type: ignore[attr-defined]
            )

    def abort(self) -> None:
        if not self._lost:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def overflowed(self) -> None:
        """
        The client stopped reading and over the send-queue limit of output
        waits: it is told why, past the limit (as IRC daemons send
        C{Closing Link: SendQ exceeded}), the others that it left, and the
        connection closes once that line is sent, or is aborted after
        L{OVERFLOW_GRACE}.
        """
        if self._lost or self._overflowing:
            return
        self._overflowing = True
        error = self.session.send_queue_exceeded(self.door.outputs.limit)
        self._output.last_words(
            encode(error, self.mode, self.delimiter), self.delimiter
        )
        self._close(self.OVERFLOW_GRACE)
