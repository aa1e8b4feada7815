# -*- test-case-name: tests.lines.test_protocol -*-
"""
One connection of the line door: bytes in, through the framer and the
text syntax, onto the core's session; events out, rendered and written.
"""

from __future__ import annotations

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
    NAMELESS,
    ONLINE,
    PASSWORD,
    Batch,
    IConnection,
)
from chat.core.core import ChatCore
from chat.core.session import Session
from chat.errors import BadInput, BadUsage, ChatError, NeedsJSON, NotJoined
from chat.events import Event, Prompt
from chat.lines.commands import COMMANDS, SlashCommands, chunk_header
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

    transport: ITransport
    session: Session
    mode = "text"
    delimiter = _DEFAULT_DELIMITER
    # The session asked for no more input for now.
    _input_paused = False
    # Inside the reading loop (a resume from within it must not start
    # another).
    _reading = False
    _lost = False
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
        framer = self._framer
        if framer is None and not self._input_paused:
            # The common case, one whole line: none of the machinery.
            line = whole_line(data, self.door.max_line_length)
            if line is not None:
                if self._first:
                    self._first_line(ending(data))
                if not self.transport.disconnecting:  # type: ignore[attr-defined]
                    self._line(line)
                return
        if framer is None:
            framer = self._framer = LineFramer(self.door.max_line_length)
        framer.feed(data)
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
        if door.core.log_limiter.allow():
            _log.info(
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
                        self._first_line(framer.terminator)
                    self._line(frame)
                elif frame is TOO_LONG:
                    self._too_long()
                elif isinstance(frame, Chunk):
                    self._chunk_read(frame.data)
        finally:
            self._reading = False
        if framer.idle and self._framer is framer:
            self._framer = None

    def _first_line(self, terminator: bytes | None) -> None:
        """
        Replies end the way the client's first line ended: C{terminator}.
        """
        self._first = False
        if terminator is not None and terminator != self.delimiter:
            self.delimiter = terminator
            self._key = _KEYS[self.mode, terminator]

    def _line(self, line: bytes) -> None:
        session = self.session
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
        if session.state is PASSWORD and text.partition(" ")[0].lower() not in (
            "/quit",
            "/exit",
        ):
            session.log_in(text)
            return
        if not text or text.isspace():
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
            return
        if name == "mode" and not (online and args.lstrip().startswith("#")):
            self._set_mode(session, args)
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
        self._key = _KEYS[mode, self.delimiter]
        now = self.door.clock.seconds()
        if session.state is not ONLINE:
            # Before the name, the mode says what the client is: a JSON
            # client acknowledges its stored messages itself.
            session.set_acknowledges(mode == "json")
        session.tell(ModeChanged(now, mode))
        if session.state is NAMELESS:
            session.tell(Prompt(now, "name"))

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
        if skip is not None:
            data = door.without(self._key, data, skip)
        self._output.gather(data)

    def pause_input(self) -> None:
        self._input_paused = True
        if not self._lost:
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_input(self) -> None:
        self._input_paused = False
        if self._lost or self.transport.disconnecting:  # type: ignore[attr-defined]
            return
        self.transport.resumeProducing()  # type: ignore[attr-defined]
        self._read()

    def close(self) -> None:
        self._output.flush()
        self._closing = True
        self.transport.loseConnection()
        if self._abort_call is None and not self._lost:
            # TLS waits for the peer's close_notify; do not wait forever.
            self._abort_call = self.door.clock.callLater(
                self.CLOSE_GRACE,
                self.transport.abortConnection,  # type: ignore[attr-defined]
            )

    def abort(self) -> None:
        if not self._lost:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def overflowed(self) -> None:
        _log.warn(
            "disconnecting {peer} ({name}): it stopped reading and over "
            "{limit} bytes of output are waiting",
            peer=describe(self.transport.getPeer()),
            name=self.session.name,
            limit=self.door.outputs.limit,
        )
        self.abort()
