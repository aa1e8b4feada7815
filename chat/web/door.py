# -*- test-case-name: tests.web.test_door -*-
"""
The web door: a WebSocket at C{/ws} onto the core's session API.

Each text message from the browser is one line of the line protocol (the
same syntax: L{chat.lines.syntax}, L{chat.lines.commands}); each event to
it is one JSON object (L{chat.lines.render}'s JSON mode) in a text
message of its own.  A batch fanned out to many connections is rendered
once, into the WebSocket frames themselves (server frames are not
masked, so the bytes are the same for every recipient), and written with
the line door's L{chat.lines.output.Output}: gathered for the end of the
turn, sent at once on a plain socket, and with the same send-queue limit
for a peer that stopped reading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Final

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request
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
from chat.core.mentions import MentionIndex
from chat.core.session import Session
from chat.errors import BadInput, BadUsage, ChatError, NotJoined
from chat.events import Event, FileChunk, Welcome
from chat.lines.commands import COMMANDS, SlashCommands, parse_history_id
from chat.lines.events import Help, ModeChanged
from chat.lines.output import Output, Outputs
from chat.lines.protocol import describe
from chat.lines.render import encode, iso_time
from chat.lines.syntax import RoomSay, Slash, Whisper, parse
from chat.web._websocket import MESSAGE_TOO_BIG, GuardedWire
from chat.web.files import INTERCEPTED

if TYPE_CHECKING:
    from chat.web.files import WebFiles

_log: Final = Logger(namespace="chat.web.door")

#: The events a file transfer over HTTP may consume, or learns the
#: session's files from (L{WebFiles.intercept}): acks, chunks, and the
#: errors, upload offsets, offers and lists that name a file.
FILE_EVENTS: Final = INTERCEPTED
# A ping with no payload (RFC 6455 5.5.2), and a close frame's opcode.
PING_FRAME: Final = b"\x89\x00"
# Characters a line never holds: they would end it on the line door.
_LINE_BREAKS: Final = frozenset("\r\n\x00")
# The commands the door carries out at the password prompt (as the line
# door does: none of them can be a password).
_AT_PASSWORD: Final = frozenset({"quit", "exit", "help", "mode"})
_NOT_HERE: Final = (
    "over the web, files travel over HTTP (the web-files event says where)."
)


def text_frame(payload: bytes) -> bytes:
    """
    C{payload} (UTF-8) as one unmasked, final WebSocket text frame: what a
    server sends (RFC 6455, 5.2).
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def event_frame(event: Event, mention: bool = False) -> bytes:
    """
    C{event} as the text frame of its JSON object.
    """
    return text_frame(encode(event, "json", b"", mention))


class WebDoor:
    """
    What every WebSocket connection shares: the core, the settings, the
    render cache, the periodic ping and the check for peers that stopped
    reading.  It is the C{WebSocketServerFactory} of the site's C{/ws}.

    @ivar origins: the origins, besides the page's own, whose pages may
        open the WebSocket (C{--web-origin}), as C{scheme://host[:port]}.
    """

    #: Seconds between two looks for peers that stopped reading.
    OUTPUT_CHECK_INTERVAL: Final = 0.5

    def __init__(
        self,
        core: ChatCore,
        *,
        max_line_length: int = 4096,
        send_queue_limit: int = 1024 * 1024,
        ping_interval: float = 30.0,
        origins: Sequence[str] = (),
        files: WebFiles | None = None,
    ) -> None:
        """
        @param max_line_length: the longest message accepted, in bytes (the
            line door's longest line: a message is one line).
        @param send_queue_limit: bytes of output that may wait for a peer
            that stopped reading before it is dropped.
        @param ping_interval: seconds between pings; a connection that sent
            nothing (not even the pong) by the next one is dropped (0:
            never ping).
        """
        self.core = core
        self.clock = core.clock
        self.commands = SlashCommands(core.limits)
        self.outputs = Outputs(core.delivery, send_queue_limit)
        self.max_size = max_line_length
        self.ping_interval = ping_interval
        self.origins = frozenset(origin.lower() for origin in origins)
        self.files = files
        self.connections: set[WebConnection] = set()
        self._watched: set[Output] = set()
        self._output_check = LoopingCall(self.check_output)
        self._output_check.clock = core.clock
        self._ping = LoopingCall(self.ping)
        self._ping.clock = core.clock
        # The batch last rendered: its frames, where each event's starts,
        # and whether it holds file events (for WebFiles.intercept); read
        # by every connection a batch is handed to, so plain attributes.
        self.batch: Batch | None = None
        self.frames = b""
        self._offsets: list[int] = []
        self.has_files = False
        # Who the batch last indexed mentions (L{mentioned}).
        self.mentions_batch: Batch | None = None
        self.mentions = MentionIndex(())

    def start(self) -> None:
        """
        Start the periodic checks (the site is listening).
        """
        if not self._output_check.running:
            self._output_check.start(self.OUTPUT_CHECK_INTERVAL, now=False)
        if self.ping_interval > 0 and not self._ping.running:
            self._ping.start(self.ping_interval, now=False)

    def stop(self) -> None:
        """
        Stop the periodic checks; what the last turn gathered goes out.
        """
        self.core.delivery.end_turn()
        for loop in (self._output_check, self._ping):
            if loop.running:
                loop.stop()

    # The site's /ws.

    def refusal(self, request: Request) -> bytes | None:
        """
        Why C{request} may not open the WebSocket: its C{Origin} is missing
        or neither the page's own (the scheme and C{Host} it came with) nor
        one of L{origins}.  Answered 403 before the upgrade, so no page of
        another site can chat as its visitor.
        """
        origin = request.getHeader("origin")
        if origin is not None:
            origin = origin.lower()
            host = request.getHeader("host")
            scheme = "https" if request.isSecure() else "http"
            if (host is not None and origin == f"{scheme}://{host.lower()}") or (
                origin in self.origins
            ):
                return None
        self.core.security_log.info(
            _log,
            "refused a WebSocket from {peer}: origin {origin}",
            peer=describe(request.getClientAddress()),
            origin=origin if origin is not None else "missing",
        )
        request.setResponseCode(403)
        request.setHeader("content-type", "text/plain; charset=utf-8")
        return b"this page's origin may not open the chat's WebSocket\n"

    def buildProtocol(self, request: Request) -> WebConnection:
        return WebConnection(self, request)

    # Rendering batches once.

    def render(self, batch: Batch) -> bytes:
        """
        The frames of C{batch}'s events, made once for all its recipients.
        """
        if batch is not self.batch:
            events = batch.events
            self.batch = batch
            if len(events) == 1:
                event = events[0]
                self.frames = event_frame(event)
                self._offsets = [0, len(self.frames)]
                self.has_files = type(event) in FILE_EVENTS
            else:
                frames = [event_frame(event) for event in events]
                self._offsets = list(accumulate(map(len, frames), initial=0))
                self.frames = b"".join(frames)
                self.has_files = any(type(e) in FILE_EVENTS for e in events)
        return self.frames

    def select(
        self, batch: Batch, skip: Sequence[int] | None, hits: Sequence[int]
    ) -> bytes:
        """
        The frames of C{batch} (just L{render}ed) for one recipient: less
        the events at C{skip}, and those at C{hits} made again as mentions
        of it.
        """
        data, offsets, events = self.frames, self._offsets, batch.events
        mentioned = set(hits)
        pieces = []
        start = 0
        for index in sorted(mentioned.union(skip or ())):
            pieces.append(data[start : offsets[index]])
            if index in mentioned:
                pieces.append(event_frame(events[index], mention=True))
            start = offsets[index + 1]
        pieces.append(data[start:])
        return b"".join(pieces)

    def index(self, batch: Batch) -> MentionIndex:
        """
        Who C{batch}'s events mention, indexed once for all its recipients.
        """
        if batch is not self.mentions_batch:
            self.mentions = MentionIndex(batch.events)
            self.mentions_batch = batch
        return self.mentions

    def mentioned(self, batch: Batch, key: str) -> list[int]:
        """
        The indexes of the events of C{batch} that mention the user C{key}.
        """
        return self.index(batch).of(key)

    # Periodic checks.

    def watch(self, output: Output) -> None:
        self._watched.add(output)

    def unwatch(self, output: Output) -> None:
        self._watched.discard(output)

    def check_output(self) -> None:
        """
        Look for connections whose peers stopped reading (as the line door
        does, L{chat.lines.factory.ChatFactory.check_output}).
        """
        for output in list(self._watched):
            output.check()

    def ping(self) -> None:
        """
        Ping every connection; drop those that sent nothing, not even the
        pong of the last ping, since it.
        """
        for connection in list(self.connections):
            connection.ping()


@implementer(IConnection)
class WebConnection:
    """
    One WebSocket: a browser tab, in JSON mode from its first message.

    It is the C{WebSocketProtocol} its L{GuardedWire} delivers messages
    to, and the L{IConnection} of its session.
    """

    #: Seconds to wait for the peer to close after we did.
    CLOSE_GRACE: Final = 5.0
    #: Seconds a peer dropped for not reading has before it is aborted.
    OVERFLOW_GRACE: Final = 2.0

    session: Session
    _wire: GuardedWire
    _output: Output
    _overflowing = False
    _abort_call: IDelayedCall | None = None
    # Input paused, and (while a password is checked) bytes held unread.
    _paused = False
    _read_ahead = False
    _held = 0
    # Something came from the peer since the last ping.
    _alive = True

    def __init__(self, door: WebDoor, request: Request) -> None:
        self.door = door
        address = request.getClientAddress()
        self._peer = address
        self._host = str(getattr(address, "host", "unknown"))
        self._secure = bool(request.isSecure())
        #: Whether messages are read now (L{GuardedWire} asks).
        self.reading = True
        # Read on every delivery, so set on the instance (CPython reads an
        # instance's own attribute faster than a class default).
        self._lost = False
        self._closing = False
        # Lost or closing: nothing more is sent.
        self._silent = False
        self._token: str | None = None
        # A batch may go out as rendered: the files token was handed out
        # (or there are no files), so no welcome is waited for.
        self._plain = door.files is None

    def __str__(self) -> str:
        return describe(self._peer)

    # Twisted's WebSocketProtocol.

    def negotiationStarted(self, transport: GuardedWire) -> None:
        self._wire = transport

    def negotiationFinished(self) -> None:
        door = self.door
        transport = self._wire.transport
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self._output = Output(transport, door.outputs, self)
        if self._output.watched:
            door.watch(self._output)
        door.connections.add(self)
        # The browser confirms stored messages itself (/ack), as a JSON
        # client of the line door does.
        self.session = door.core.open_session(
            self, self._host, secure=self._secure, acknowledges=True
        )
        if self.session.state is CLOSED:
            return  # refused: told why, and closing
        core = door.core
        if core.log_limiter.allow():
            _log.info("WebSocket from {peer}", peer=describe(self._peer))
        self.session.ask_again()  # the name prompt

    def textMessageReceived(self, message: str) -> None:
        self._line(message)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self.binaryMessageReceived()  # (GuardedWire calls that itself.)

    def binaryMessageReceived(self) -> None:
        self.session.refuse(
            BadInput("binary messages are not read: send text; it was discarded.")
        )

    def pongReceived(self, payload: bytes) -> None:
        self._alive = True

    def wireDataReceived(self, size: int) -> None:
        """
        C{size} bytes came from the peer: it is alive.
        """
        self._alive = True
        if self._read_ahead:
            # A password is checked: what comes is held (within a bound)
            # for discard_input, and past it left in the socket.
            self._held += size
            if self._held > self.door.max_size + 14:
                self._read_ahead = False
                self._wire.transport.pauseProducing()  # type: ignore[attr-defined]

    def messageTooBig(self) -> None:
        limit = self.door.max_size
        self.door.core.security_log.info(
            _log,
            "closing the WebSocket of {peer}: a message over {limit} bytes",
            peer=describe(self._peer),
            limit=limit,
        )
        self._output.flush()
        self._closing = True
        self._silent = True
        self._wire.close(MESSAGE_TOO_BIG, f"messages are at most {limit} bytes")
        self._abort_later(self.CLOSE_GRACE)

    def connectionLost(self, reason: Failure) -> None:
        if self._lost:
            return
        self._lost = True
        self._silent = True
        self.reading = False
        if self._abort_call is not None and self._abort_call.active():
            self._abort_call.cancel()
        self._abort_call = None
        door = self.door
        door.connections.discard(self)
        output = getattr(self, "_output", None)
        if output is None:
            return  # lost before the handshake was done: no session
        output.drop()
        if output.watched:
            door.unwatch(output)
        if self._token is not None and door.files is not None:
            door.files.detach(self._token)
            self._token = None
        door.core.log_limiter.info(
            _log,
            "WebSocket from {peer} closed ({name}): {reason}",
            peer=describe(self._peer),
            name=self.session.name,
            reason=reason.getErrorMessage(),
        )
        self.session.closed(delivered=reason.check(ConnectionDone) is not None)

    # Input: one message is one line.

    def _line(self, text: str) -> None:
        session = self.session
        if not _LINE_BREAKS.isdisjoint(text):
            session.refuse(
                BadInput(
                    "a message is one line: no CR, LF or NUL in it; it was discarded."
                )
            )
            return
        if session.state is PASSWORD:
            self._password(session, text)
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

    def _password(self, session: Session, text: str) -> None:
        """
        A message at the password prompt: the password, whole, unless it is
        one of the door's own commands there; never echoed nor logged.
        """
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
        A slash command: the door's own (C{/help}, C{/mode json},
        C{/quit}, C{/since}), or a session request.

        @raise ChatError: if the door refuses it.
        """
        if name in ("quit", "exit"):
            session.quit(args.strip() or None)
            return
        online = session.state is ONLINE
        if name == "help":
            session.tell(Help(self.door.clock.seconds(), COMMANDS))
            if session.state is PASSWORD:
                session.ask_again()
            return
        if name == "mode" and not (online and args.lstrip().startswith("#")):
            if args.strip().lower() != "json":
                raise BadUsage("the web door speaks JSON only: /mode json")
            session.tell(ModeChanged(self.door.clock.seconds(), "json"))
            if not online:
                session.ask_again()
            return
        if name == "since":
            session.resume_after(parse_history_id(args))
            return
        handler = self.door.commands.handler(name)
        if not online:
            raise NotJoined(f"please enter your name before using /{name}.")
        if name == "file" and args.strip().partition(" ")[0].lower() == "get":
            raise BadUsage(_NOT_HERE)
        handler(session, args)

    # IConnection

    def deliver(self, event: Event) -> None:
        if self._silent:
            return
        self._send(event, False)

    def _send(self, event: Event, mention: bool) -> None:
        kind = type(event)
        if kind in FILE_EVENTS:
            files, token = self.door.files, self._token
            if token is not None and files is not None:
                if files.intercept(token, event):
                    return
            if kind is FileChunk:
                return  # raw bytes: never in a text message
        self._output.write(event_frame(event, mention))
        if kind is Welcome:
            self._welcomed()

    def _welcomed(self) -> None:
        """
        The session is in: hand it a token for files over HTTP.
        """
        files = self.door.files
        if files is None or self._token is not None:
            return
        self._token = token = files.attach(self.session)
        self._plain = True
        event = {
            "type": "web-files",
            "time": iso_time(self.door.clock.seconds()),
            "from": None,
            "text": "",
            "token": token,
            "path": "/files/",
        }
        self._output.write(text_frame(json.dumps(event).encode("ascii")))

    def deliver_batch(self, batch: Batch, skip: Sequence[int] | None) -> None:
        if self._silent:
            return
        door = self.door
        # Every recipient of a fan-out comes here: the frames made for the
        # first one are looked up inline.
        data = door.frames if batch is door.batch else door.render(batch)
        key = self.session.key
        if not self._plain or door.has_files:
            # The login's catch-up (the welcome first: the files token
            # follows it), or file events a transfer may consume.
            self._deliver_each(batch, skip, key)
            return
        if key is not None:
            # Mentions (issue 16): the index made for the first recipient
            # is looked up inline.
            index = door.mentions if batch is door.mentions_batch else door.index(batch)
            hits = index.of(key)
        else:
            hits = None
        if hits or skip:
            data = door.select(batch, skip, hits or ())
        self._output.gather(data)

    def _deliver_each(
        self, batch: Batch, skip: Sequence[int] | None, key: str | None
    ) -> None:
        """
        A batch one event at a time: the welcome is followed by the files
        token, and a transfer may consume file events.
        """
        skipped = set(skip or ())
        hits = set(self.door.mentioned(batch, key)) if key is not None else set()
        for index, event in enumerate(batch.events):
            if index not in skipped and not self._closing:
                self._send(event, index in hits)

    def pause_input(self) -> None:
        self._paused = True
        self.reading = False
        if self._lost:
            return
        if self.session.state is LOGGING_IN:
            # While a password is checked, what comes is read and held (a
            # few reads), so that a refused login can drop it: a password
            # retyped ahead must not be read as a name later.
            self._read_ahead = True
            self._held = 0
            return
        self._wire.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_input(self) -> None:
        # (While a password was checked the socket was read on, unless
        # what came passed the bound.)
        transport_paused = not self._read_ahead
        self._paused = False
        self._read_ahead = False
        self.reading = True
        if self._lost or self._closing:
            return
        if transport_paused:
            self._wire.transport.resumeProducing()  # type: ignore[attr-defined]
        self._wire.read_more()

    def discard_input(self) -> bool:
        if self._lost:
            return False
        return self._wire.discard()

    def close(self) -> None:
        if self._lost:
            return
        self._output.flush()
        self._closing = True
        self._silent = True
        self.reading = False
        self._wire.close(1000)
        self._abort_later(self.CLOSE_GRACE)

    def abort(self) -> None:
        if not self._lost:
            self._wire.transport.abortConnection()  # type: ignore[attr-defined]

    def _abort_later(self, grace: float) -> None:
        if self._abort_call is None and not self._lost:
            self._abort_call = self.door.clock.callLater(
                grace,
                self._wire.transport.abortConnection,  # type: ignore[attr-defined]
            )

    def overflowed(self) -> None:
        """
        The peer stopped reading and too much waits for it: it is told why
        after what it was sent (a frame cannot be cut), the others that it
        left, and the connection is aborted after L{OVERFLOW_GRACE}.
        """
        if self._lost or self._overflowing:
            return
        self._overflowing = True
        error = self.session.send_queue_exceeded(self.door.outputs.limit)
        self._output.drop()
        self._closing = True
        self._silent = True
        self.reading = False
        transport = self._wire.transport
        transport.write(event_frame(error))
        self._wire.close(1008, "send queue exceeded")
        self._abort_later(self.OVERFLOW_GRACE)

    # The door's ping.

    def ping(self) -> None:
        """
        Drop the connection if nothing came from the peer since the last
        ping; else ping it again.
        """
        if self._lost:
            return
        if not self._alive:
            self.door.core.security_log.info(
                _log,
                "dropping the WebSocket of {peer}: no pong within {seconds} s",
                peer=describe(self._peer),
                seconds=self.door.ping_interval,
            )
            self.abort()
            return
        self._alive = False
        if not self._closing:
            self._output.write(PING_FRAME)
