# -*- test-case-name: tests.test_protocol -*-
"""
The line protocol: framing, decoding and rendering for one TCP or TLS
connection.  What a line means is decided by L{chat.dispatcher}.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any, Final

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IDelayedCall,
    INegotiated,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.internet.task import LoopingCall
from twisted.internet.tcp import Connection
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.dispatcher import Dispatcher, Limits
from chat.errors import BadInput, BadUsage, ChatError
from chat.events import Error, Event, ModeChanged
from chat.logs import LogLimiter
from chat.passwords import PasswordHasher
from chat.registry import IChatClient, UserRegistry
from chat.render import GREETING, MODES, encode
from chat.store import IChatStore
from chat.transfers import CHUNK_MAX, IO, inline_io

# LF (with or without a CR before it) or NUL ends a line.
_TERMINATOR: Final = re.compile(rb"\r?\n|\x00")
_SPLIT: Final = re.compile(rb"\n|\x00")
# Replies go out with CRLF until the client's first line shows its choice.
_DEFAULT_DELIMITER: Final = b"\r\n"
_GREETING_BYTES: Final = GREETING.encode() + _DEFAULT_DELIMITER
_DEFAULT_KEY: Final = sys.intern("text\r\n")
# Lines acted on per connection per reactor turn (see dataReceived).
LINES_PER_TURN: Final = 100
# A line that is followed by raw bytes.
_CHUNK_LINE: Final = b"/file chunk "
# Module level: a Logger class attribute builds a new Logger on every access.
_log: Final = Logger(namespace="chat.protocol.ChatProtocol")


def _pending_output(transport: Any) -> int | None:
    """
    Bytes a socket transport holds unsent, or C{None} for other transports.

    Reads the buffer attributes of Twisted's C{FileDescriptor}: the cheap
    way to spot a peer that stopped reading without paying for a producer
    check on every write (see L{ChatFactory.check_output}).
    """
    try:
        pending: int = (
            len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        )
    except (AttributeError, TypeError):
        return None
    return pending


def _send_now(transport: Any, data: bytes) -> None:
    """
    Write C{data} to a socket transport, sending it at once when nothing
    is queued before it.

    Twisted's C{write} always queues: it asks the reactor to watch the
    socket for writability (an C{epoll_ctl}), sends on the next turn, and
    stops watching (another).  For a chat server nearly every write finds
    an empty socket buffer, so that is three system calls and a reactor
    pass where one C{send} does.  Whatever the socket does not take now
    (or an error, which the transport finds for itself) goes to
    C{write}, behind nothing, so the order is kept.
    """
    if (
        transport.connected
        and not transport.disconnecting
        and not transport._aborting
        and not transport.TLS  # startTLS: write() encrypts
        and _pending_output(transport) == 0
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def _describe(address: object) -> str:
    """
    C{host:port} for IP addresses, C{repr} for anything else.
    """
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is None or port is None:
        return repr(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@implementer(IChatClient)
class ChatProtocol(LineReceiver):
    """
    One connected user.

    Lines end with LF, CRLF or NUL; replies use whichever the client's first
    line used.  Output is rendered once per (mode, terminator) per event and
    shared with every other connection that uses the same pair.

    If the peer stops reading, the transport pauses us as a producer; once
    more than C{factory.send_queue_limit} bytes pile up on top of the
    transport's own buffer the connection is aborted, so one stuck client
    cannot make the server hold unbounded output.  On plain sockets we
    register as the producer only once the factory's periodic check finds
    output piling up: a registered producer costs a check on every write,
    the broadcast hot path.
    """

    CLOSE_GRACE: Final = 5.0
    # Events kept for one client while it is caught up at login.
    HOLD_LIMIT: Final = 10_000

    factory: ChatFactory
    transport: ITransport
    name: str | None = None
    delimiter = _DEFAULT_DELIMITER
    mode = "text"

    _seen_terminator = False
    _discarding = False
    _paused = False
    # Deliveries take the slow path (paused, or held during a catch-up).
    _divert = False
    _held: list[Event] | None = None
    # Input waits: a deferred turn or a request still being carried out.
    _input_held = False
    _waiting = False
    _lost = False
    secure = False
    _watched = False
    _registered = False
    _backlog = 0
    _overflowed = False
    _abort_call: IDelayedCall | None = None
    _resume_call: IDelayedCall | None = None
    _unread = b""
    # A socket transport: write with L{_send_now}.
    _direct = False
    # Output gathered during this reactor turn, written once at its end
    # (None: nothing gathered yet; without _coalesce every delivery is a
    # write).  Made when needed: an idle connection holds no list.
    _out: list[bytes] | None = None
    _coalesce = False
    # Bytes of a file chunk still to read after its /file chunk line.
    _raw_left = 0
    _raw_header = (0, 0)

    def __init__(self) -> None:
        # The render-cache key: a str, whose hash Python caches.
        self._key = _DEFAULT_KEY
        self._buffer = b""
        self._raw_parts: list[bytes] | None = None

    # Twisted calls these, so they keep Twisted's names.

    def connectionMade(self) -> None:
        transport = self.transport
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self.secure = INegotiated.providedBy(transport)
        if _pending_output(transport) is None:
            # TLS and test transports: the transport tells us at once.
            self._register()
        else:
            self._watched = True
            self.factory.watch(self)
        if self.factory.log_limiter.allow():
            _log.info("connection from {peer}", peer=_describe(transport.getPeer()))
        self._coalesce = self.factory.coalesce
        self._direct = isinstance(transport, Connection)
        self._write(_GREETING_BYTES)

    def dataReceived(self, data: bytes) -> None:
        """
        Split C{data} into lines on LF, CRLF or NUL, whatever the segmenting.

        At most L{LINES_PER_TURN} lines are acted on per reactor turn: the
        rest waits, with reading paused, until the output they caused has had
        a chance to be written.  Otherwise one client's burst would pile up
        output for every reader faster than the reactor can flush it.

        The bytes of a file chunk follow their C{/file chunk} line raw.
        """
        if self._raw_left and not self._input_held:
            data = self._take_raw(data)
            if not data:
                return
        if (
            not self._buffer
            and self._seen_terminator
            and not self._input_held
            and not self._discarding
            and data.find(b"\n") == len(data) - 1
            and len(data) <= self.factory.max_line_length + 1
            and b"\x00" not in data
        ):
            # The common case, one whole line: none of the machinery below.
            if not self.transport.disconnecting:  # type: ignore[attr-defined]
                self.lineReceived(data[:-1])
            return
        if self._input_held:
            self._unread += data
            return
        if self._discarding:
            match = _SPLIT.search(data)
            if match is None:
                return
            self._discarding = False
            data = data[match.end() :]
        if self._buffer:
            data = self._buffer + data
        if not self._seen_terminator:
            match = _TERMINATOR.search(data)
            if match is None:
                self._buffer = data
                self._check_length()
                return
            self._seen_terminator = True
            self._set_key(delimiter=match.group())
        if _CHUNK_LINE in data:
            self._split_with_chunks(data)
            return
        lines = _SPLIT.split(data) if b"\x00" in data else data.split(b"\n")
        self._buffer = lines.pop()
        limit = self.factory.max_line_length
        for index, line in enumerate(lines):
            if self.transport.disconnecting:  # type: ignore[attr-defined]
                self._buffer = b""
                return
            if index == LINES_PER_TURN:
                self._defer(b"\n".join(lines[index:]) + b"\n" + self._buffer)
                return
            if len(line) > limit and len(line.rstrip(b"\r")) > limit:
                self.lineLengthExceeded(line)
                continue
            self.lineReceived(line)
            if self._waiting:
                # The rest waits until that request is carried out.
                rest = lines[index + 1 :]
                self._unread = b"".join(part + b"\n" for part in rest) + self._buffer
                self._buffer = b""
                return
        self._check_length()

    def _split_with_chunks(self, data: bytes) -> None:
        """
        L{dataReceived} for input holding file chunks: lines are found one
        at a time, so that a chunk's raw bytes are taken exactly from where
        its line ends.
        """
        pos = count = 0
        limit = self.factory.max_line_length
        self._buffer = b""  # part of data now
        while True:
            if self.transport.disconnecting:  # type: ignore[attr-defined]
                self._buffer = b""
                return
            if self._raw_left:
                data, pos = self._take_raw(data[pos:]), 0
                if self._raw_left or self._waiting:
                    return
                continue
            match = _SPLIT.search(data, pos)
            if match is None:
                self._buffer = data[pos:]
                self._check_length()
                return
            if count == LINES_PER_TURN:
                self._defer(data[pos:])
                return
            line, pos = data[pos : match.start()], match.end()
            count += 1
            if len(line) > limit and len(line.rstrip(b"\r")) > limit:
                self.lineLengthExceeded(line)
                continue
            self.lineReceived(line)
            if self._waiting:
                self._unread, self._buffer = data[pos:], b""
                return

    def _start_chunk(self, line: bytes) -> None:
        """
        C{/file chunk ID OFFSET LENGTH}: the next LENGTH bytes are the chunk.
        """
        words = line.split()
        if len(words) != 5 or not all(w.isdigit() for w in words[2:]):
            raise BadUsage("usage: /file chunk ID OFFSET LENGTH, then the bytes")
        length = int(words[4])
        if not 1 <= length <= CHUNK_MAX:
            raise BadUsage(f"a chunk is 1 to {CHUNK_MAX} bytes")
        self._raw_header = (int(words[2]), int(words[3]))
        self._raw_left = length

    def _take_raw(self, data: bytes) -> bytes:
        """
        Take what belongs to the chunk being read from C{data}; once it is
        whole, hand it to the core.

        @return: the bytes after the chunk (empty if they were put aside
            until the chunk is written).
        """
        left = self._raw_left
        part, rest = data[:left], data[left:]
        self._raw_left = left - len(part)
        parts = self._raw_parts
        if self._raw_left:
            if parts is None:
                self._raw_parts = [part]
            else:
                parts.append(part)
            return b""
        self._raw_parts = None
        chunk = part if parts is None else b"".join([*parts, part])
        file_id, offset = self._raw_header
        try:
            done = self.factory.dispatcher.transfers.chunk(self, file_id, offset, chunk)
        except ChatError as e:
            self._refused(e)
            return rest
        if done is not None:
            self._wait_for(done)
            if self._waiting:
                self._unread = rest
                return b""
        return rest

    def _defer(self, unread: bytes) -> None:
        self._buffer = b""
        self._unread = unread
        self._input_held = True
        self.transport.pauseProducing()  # type: ignore[attr-defined]
        self._resume_call = self.factory.clock.callLater(0, self._resume)

    def _resume(self) -> None:
        self._resume_call = None
        self._input_held = False
        data, self._unread = self._unread, b""
        if not self.transport.disconnecting:  # type: ignore[attr-defined]
            self.transport.resumeProducing()  # type: ignore[attr-defined]
            self.dataReceived(data)

    def _wait_for(self, done: Deferred[None]) -> None:
        """
        Act on no more input until C{done} fires: requests from one
        connection are carried out in order, even when one waits for the
        store or a password check.
        """
        done.addErrback(self._failed)
        if done.called:
            return
        self._waiting = self._input_held = True
        self.transport.pauseProducing()  # type: ignore[attr-defined]
        done.addBoth(self._done_waiting)

    def _done_waiting(self, result: object) -> None:
        self._waiting = self._input_held = False
        data, self._unread = self._unread, b""
        if self._lost or self.transport.disconnecting:  # type: ignore[attr-defined]
            return
        self.transport.resumeProducing()  # type: ignore[attr-defined]
        if data:
            self.dataReceived(data)

    def _failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, ChatError):
            self._refused(error)
            return
        _log.failure("a request from {peer} failed", failure, peer=self.peer)
        if not self._lost:
            self.deliver(
                Error(
                    self.factory.clock.seconds(),
                    "internal",
                    "the server could not carry that out; please try again.",
                )
            )

    def _refused(self, e: ChatError) -> None:
        self.factory.log_limiter.info(
            _log,
            "refused a request from {peer} ({name}): {reason}",
            peer=_describe(self.transport.getPeer()),
            name=self.name,
            reason=str(e),
        )
        self.deliver(Error.refusing(self.factory.clock.seconds(), e))

    def lineReceived(self, line: bytes) -> None:
        try:
            if line[-1:] == b"\r":
                line = line[:-1]
            if line.startswith(_CHUNK_LINE):
                self._start_chunk(line)
                return
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(
                    "lines must be UTF-8 text; that line was discarded."
                ) from None
            done = self.factory.dispatcher.dispatch(self, text)
        except ChatError as e:
            self._refused(e)
            return
        if done is not None:
            self._wait_for(done)

    def lineLengthExceeded(self, line: bytes) -> int | None:
        self.factory.log_limiter.info(
            _log,
            "discarded a line over {limit} bytes from {peer}",
            limit=self.factory.max_line_length,
            peer=_describe(self.transport.getPeer()),
        )
        error = BadInput(
            f"line too long (the limit is {self.factory.max_line_length} bytes); "
            "it was discarded."
        )
        self.deliver(Error.refusing(self.factory.clock.seconds(), error))
        return None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        for call in (self._abort_call, self._resume_call):
            if call is not None and call.active():
                call.cancel()
        self._abort_call = self._resume_call = None
        self._buffer = self._unread = b""
        self._raw_parts, self._raw_left = None, 0
        self._out = None
        self._lost = True
        self._held = None
        if self._watched:
            self.factory.unwatch(self)
        if self.factory.log_limiter.allow():
            _log.info(
                "connection from {peer} closed ({name}): {reason}",
                peer=_describe(self.transport.getPeer()),
                name=self.name,
                reason=reason.getErrorMessage(),
            )
        self.factory.dispatcher.leave(
            self, "connection closed", clean=reason.check(ConnectionDone) is not None
        )

    # IPushProducer: the transport tells us when the peer is not reading.
    # Input is not paused in turn: TLS pauses its producer until the
    # handshake is done, and a handshake needs the peer's bytes to be read.

    def pauseProducing(self) -> None:
        self._paused = self._divert = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._divert = self._held is not None
        self._backlog = 0

    def stopProducing(self) -> None:
        self._paused = self._divert = True

    # IChatClient

    @property
    def peer(self) -> str:
        return str(getattr(self.transport.getPeer(), "host", "unknown"))

    @property
    def acknowledges(self) -> bool:
        return self.mode == "json"

    @property
    def binary(self) -> bool:
        return self.mode == "json"

    def hold(self) -> None:
        # What was broadcast before the hold comes before it.
        self.factory.flush_pending()
        self._held = []
        self._divert = True

    def release(self, first: Sequence[Event]) -> None:
        # Broadcasts of this turn so far belong in the held events, after
        # the catch-up: fan them out while the client is still held.
        self.factory.flush_pending()
        held, self._held = self._held, None
        self._divert = self._paused
        if not self._coalesce or self._divert:
            for event in first:
                self.deliver(event)
            for event in held or ():
                self.deliver(event)
            return
        # A catch-up is many lines at once: one write at the end of the turn.
        out = self._gather()
        out.extend(_render(event, self) for event in first)
        if held:
            out.extend(_render(event, self) for event in held)

    def deliver(self, event: Event) -> None:
        if self.factory._pending:
            # Broadcasts of this turn come first.
            self.factory.flush_pending()
        held = self._held
        if held is not None:
            held.append(event)
            if len(held) > self.HOLD_LIMIT and not self._overflowed:
                self._overflow()
            return
        data = _render(event, self)
        if self._paused and self._over_limit(len(data)):
            if not self._overflowed:
                self._overflow()
            return
        out = self._out
        if out is not None:
            # Broadcasts wait for the end of the turn: keep the order.
            out.append(data)
            return
        self._write(data)

    def _gather(self) -> list[bytes]:
        """
        The list this turn's output is gathered in, made on first use.
        """
        out = self._out
        if out is None:
            out = self._out = []
            self.factory.gathering(self)
        return out

    def _write(self, data: bytes) -> None:
        if self._direct:
            _send_now(self.transport, data)
        else:
            self.transport.write(data)

    def _write_out(self) -> None:
        """
        Write what this turn gathered, in one piece.
        """
        out = self._out
        self._out = None
        if out:
            self._write(out[0] if len(out) == 1 else b"".join(out))

    def _over_limit(self, size: int) -> bool:
        """
        Whether C{size} more bytes for a paused connection would pass the
        send-queue limit.  On a socket that is what it holds unsent, beyond
        the write buffer: a client that reads, but slower than it asks (file
        chunks), keeps the transport paused for long and must not be taken
        for one that stopped.  Elsewhere (TLS) it is what was sent since the
        transport paused.
        """
        limit = self.factory.send_queue_limit
        if self._watched:
            pending = _pending_output(self.transport)
            if pending is not None:
                return pending + size > limit + ChatFactory.OUTPUT_HIGH_WATER
        self._backlog += size
        return self._backlog > limit

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise BadUsage(f"unknown mode {mode}; usage: /mode json|text")
        self._set_key(mode=mode)
        self.deliver(ModeChanged(self.factory.clock.seconds(), mode))

    def disconnect(self) -> None:
        self._write_out()
        self.transport.loseConnection()
        if self._abort_call is None:
            # TLS waits for the peer's close_notify; do not wait forever.
            self._abort_call = self.factory.clock.callLater(
                self.CLOSE_GRACE,
                self.transport.abortConnection,  # type: ignore[attr-defined]
            )

    # Internals.

    def _register(self) -> None:
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._registered = True

    def check_output(self, high_water: int) -> None:
        """
        Become the transport's producer while more than C{high_water} bytes
        wait unsent, and stop being it once they are gone.
        """
        pending = _pending_output(self.transport)
        if pending is None:
            return
        if not self._registered:
            if pending > high_water:
                # The transport pauses us on its next write.
                self._register()
        elif pending == 0 and not self._paused:
            self.transport.unregisterProducer()  # type: ignore[attr-defined]
            self._registered = False

    def _set_key(
        self, *, mode: str | None = None, delimiter: bytes | None = None
    ) -> None:
        if mode is not None:
            self.mode = mode
        if delimiter is not None:
            self.delimiter = delimiter
        # Interned: one key string shared by every connection that uses it.
        self._key = sys.intern(self.mode + self.delimiter.decode())

    def _check_length(self) -> None:
        if len(self._buffer) > self.factory.max_line_length + 1:
            self._buffer = b""
            self._discarding = True
            self.lineLengthExceeded(b"")

    def _overflow(self) -> None:
        _log.warn(
            "disconnecting {peer} ({name}): it stopped reading and over "
            "{limit} bytes of output are waiting",
            peer=_describe(self.transport.getPeer()),
            name=self.name,
            limit=self.factory.send_queue_limit,
        )
        self._overflowed = True
        self.transport.abortConnection()  # type: ignore[attr-defined]


def fan_out(
    event: Event, clients: Iterable[IChatClient], sender: IChatClient | None
) -> None:
    """
    Broadcast C{event}: L{ChatProtocol.deliver} inlined for line-protocol
    clients (the hot path of a broadcast, once per recipient), plain
    C{deliver} for any other kind of client.
    """
    rendered = event.rendered
    for client in clients:
        if client is sender:
            continue
        if type(client) is ChatProtocol and not client._divert:
            key = client._key
            data = rendered.get(key)
            if data is None:
                data = rendered[key] = encode(event, client.mode, client.delimiter)
            out = client._out
            if out is not None:
                out.append(data)
            elif client._coalesce:
                client._gather().append(data)
            else:
                client._write(data)
        else:
            client.deliver(event)


def _render(event: Event, client: ChatProtocol) -> bytes:
    key = client._key
    data = event.rendered.get(key)
    if data is None:
        data = event.rendered[key] = encode(event, client.mode, client.delimiter)
    return data


def fan_out_run(
    run: Sequence[tuple[Event, Iterable[IChatClient], IChatClient | None]],
) -> None:
    """
    Broadcast several events to the same clients, in order: each line
    protocol client gets them as one piece, less any it sent itself.

    This is what makes a busy turn cheap.  Each event is rendered once per
    output format and the run joined once per format; a recipient gets
    that piece (one step, however many messages the turn carried), and a
    sender gets it with its own messages cut out (one slice per message of
    its own).
    """
    clients = run[0][1]
    own: dict[IChatClient | None, list[int]] = {}
    for index, (_, _, sender) in enumerate(run):
        own.setdefault(sender, []).append(index)
    formats: dict[str, tuple[bytes, list[int]]] = {}
    for client in clients:
        if type(client) is ChatProtocol and not client._divert:
            key = client._key
            joined = formats.get(key)
            if joined is None:
                parts = [_render(event, client) for event, _, _ in run]
                joined = formats[key] = (
                    b"".join(parts),
                    list(accumulate(map(len, parts), initial=0)),
                )
            data, offsets = joined
            mine = own.get(client)
            if mine is not None:
                data = _cut(data, offsets, mine)
                if not data:
                    continue
            client._gather().append(data)
        else:
            for event, _, by in run:
                if by is not client:
                    client.deliver(event)


def _cut(data: bytes, offsets: Sequence[int], indexes: Iterable[int]) -> bytes:
    """
    C{data} without the pieces at C{indexes} (ascending), piece C{i} being
    C{data[offsets[i]:offsets[i + 1]]}.
    """
    pieces = []
    start = 0
    for index in indexes:
        pieces.append(data[start : offsets[index]])
        start = offsets[index + 1]
    pieces.append(data[start:])
    return b"".join(pieces)


class ChatFactory(ServerFactory[ChatProtocol]):
    """
    Shared state for every connection on every listener: one registry, one
    dispatcher, one clock.
    """

    protocol = ChatProtocol
    OUTPUT_CHECK_INTERVAL: Final = 0.5
    # Twisted's FileDescriptor.bufferSize: where it would pause a producer.
    OUTPUT_HIGH_WATER: Final = 64 * 1024

    def __init__(
        self,
        registry: UserRegistry | None = None,
        *,
        clock: IReactorTime | None = None,
        max_line_length: int = 4096,
        send_queue_limit: int = 1024 * 1024,
        announce_limit: int = 200,
        log_rate: int = 100,
        store: IChatStore | None = None,
        hasher: PasswordHasher | None = None,
        limits: Limits | None = None,
        keep_history: bool = True,
        room_announce_limit: int = 200,
        spool: str = "chat-spool",
        file_io: IO = inline_io,
        coalesce: bool = False,
    ) -> None:
        """
        @param coalesce: gather each connection's broadcasts during a
            reactor turn and write them at its end, one write per
            connection per turn instead of one per message.
        """
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.clock: IReactorTime = clock
        self.registry = registry if registry is not None else UserRegistry()
        self.log_limiter = LogLimiter(clock, per_second=log_rate)
        self.dispatcher = Dispatcher(
            self.registry,
            clock,
            announce_limit=announce_limit,
            log_limiter=self.log_limiter,
            fan_out=self.fan_out_later if coalesce else fan_out,
            store=store,
            hasher=hasher,
            limits=limits or Limits(),
            keep_history=keep_history,
            room_announce_limit=room_announce_limit,
            spool=spool,
            file_io=file_io,
        )
        self.max_line_length = max_line_length
        self.send_queue_limit = send_queue_limit
        self._watched: set[ChatProtocol] = set()
        self._output_check = LoopingCall(self.check_output)
        self._output_check.clock = clock
        self.coalesce = coalesce
        # Broadcasts of this turn, fanned out at its end (coalescing only).
        self._pending: list[
            tuple[Event, Iterable[IChatClient], IChatClient | None]
        ] = []
        self._gathered: list[ChatProtocol] = []
        self._write_call: IDelayedCall | None = None

    def startFactory(self) -> None:
        if not self._output_check.running:
            self._output_check.start(self.OUTPUT_CHECK_INTERVAL, now=False)

    def gathering(self, protocol: ChatProtocol) -> None:
        """
        C{protocol} has output waiting for the end of the turn.
        """
        self._gathered.append(protocol)
        self._at_end_of_turn()

    def fan_out_later(
        self, event: Event, clients: Iterable[IChatClient], sender: IChatClient | None
    ) -> None:
        """
        Broadcast C{event} at the end of the turn, with the turn's other
        broadcasts to the same clients (see L{fan_out_run}).  C{clients}
        must not change afterwards: the registry and rooms hand out tuples.
        """
        self._pending.append((event, clients, sender))
        self._at_end_of_turn()

    def _at_end_of_turn(self) -> None:
        if self._write_call is None:
            self._write_call = self.clock.callLater(0, self.write_gathered)

    def flush_pending(self) -> None:
        """
        Fan out this turn's broadcasts now, into each connection's output
        for the turn: before anything else is delivered, so that the order
        every client sees is the order of events.
        """
        pending = self._pending
        if not pending:
            return
        self._pending = []
        start, end = 0, len(pending)
        while start < end:
            clients = pending[start][1]
            stop = start + 1
            while stop < end and pending[stop][1] is clients:
                stop += 1
            if stop == start + 1:
                event, _, sender = pending[start]
                fan_out(event, clients, sender)
            else:
                fan_out_run(pending[start:stop])
            start = stop

    def write_gathered(self) -> None:
        """
        The end of the turn: write every connection's gathered output.
        """
        # Fanned out first, so that it gathers into this call, not a new one.
        self.flush_pending()
        self._write_call = None
        gathered, self._gathered = self._gathered, []
        for protocol in gathered:
            protocol._write_out()

    def stopFactory(self) -> None:
        if self._write_call is not None and self._write_call.active():
            self._write_call.cancel()
            self.write_gathered()
        self.log_limiter.stop()
        if self._output_check.running:
            self._output_check.stop()

    def watch(self, protocol: ChatProtocol) -> None:
        self._watched.add(protocol)

    def unwatch(self, protocol: ChatProtocol) -> None:
        self._watched.discard(protocol)

    def check_output(self) -> None:
        """
        Look for connections whose peers stopped reading.

        Every L{OUTPUT_CHECK_INTERVAL} seconds: about a microsecond per
        connection, against the per-write producer check it replaces.  A
        stuck peer can gain at most one interval of output before flow
        control takes over.
        """
        for protocol in self._watched:
            protocol.check_output(self.OUTPUT_HIGH_WATER)

    def buildProtocol(self, addr: object) -> ChatProtocol:
        protocol = ChatProtocol()
        protocol.factory = self
        return protocol
