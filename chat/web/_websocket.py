# -*- test-case-name: tests.web.test_websocket -*-
"""
The only code in txchat that uses Twisted's private WebSocket parts.

L{twisted.web.websocket.WebSocketResource} upgrades a request and hands
its bytes to a private wire protocol (C{_WebSocketWireProtocol}, on
wsproto) that buffers every message whole, however long, and offers no
way to stop reading.  L{GuardedResource} does the same upgrade after its
own check (the Origin), and L{GuardedWire} reads messages as they come,
with a bound, and only while its protocol wants more
(L{WireOwner.reading}).  C{tests.web.test_websocket} checks the private
names still exist, so a Twisted upgrade that moves them fails there.
"""

from __future__ import annotations

from typing import Final, Protocol

from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web._websocket_impl import (
    _handleEvent,
    _WebSocketWireProtocol,
    serverBootstrap,
)
from twisted.web.http import HTTPChannel, _GenericHTTPChannelProtocol
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.websocket import WebSocketResource

#: The private names used here, for the test that checks they still exist.
PRIVATE_NAMES: Final = (
    "twisted.web._websocket_impl._WebSocketWireProtocol",
    "twisted.web._websocket_impl._handleEvent",
    "twisted.web._websocket_impl.serverBootstrap",
    "twisted.web.http.HTTPChannel._protocolUpgradeForWebsockets",
    "twisted.web.http._GenericHTTPChannelProtocol",
)
#: And HTTPChannel's requests list (an instance attribute), which
#: GuardedResource takes the upgraded request out of.


class Counter(Protocol):
    """
    What counts open HTTP connections (L{chat.web.site.WebSite}).
    """

    def release(self, key: str | None) -> None:
        """
        A connection counted under C{key} is gone.
        """


class CountedChannel(_GenericHTTPChannelProtocol):
    """
    twisted.web's HTTP channel protocol, which tells its L{Counter} when
    it is lost, whatever the channel became: an upgrade to a WebSocket
    replaces the channel's own C{connectionLost}, and this class's is
    called before it.  (The counter and the key are plain attributes, not
    a closure: one costs 200 bytes a connection.)
    """

    counter: Counter | None = None
    key: str | None = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        counter, self.counter = self.counter, None
        if counter is not None:
            counter.release(self.key)
        self._channel.connectionLost(reason)


def counted_channel() -> CountedChannel:
    """
    A new HTTP channel protocol for L{chat.web.site.WebSite}.
    """
    return CountedChannel(HTTPChannel())


#: Close codes (RFC 6455, 7.4.1).
MESSAGE_TOO_BIG: Final = 1009


class WireOwner(Protocol):
    """
    What L{GuardedWire} needs of the protocol it carries (besides
    Twisted's C{WebSocketProtocol} methods).
    """

    #: Whether it wants messages now (its input is not paused).
    reading: bool

    def textMessageReceived(self, message: str) -> None: ...
    def binaryMessageReceived(self) -> None: ...
    def messageTooBig(self) -> None: ...
    def wireDataReceived(self, size: int) -> None: ...


class GuardedWire(_WebSocketWireProtocol):  # type: ignore[type-arg]
    """
    Twisted's wire protocol, reading each message as its frames come: a
    text message of more than C{max_size} characters (or UTF-8 bytes,
    checked when it is whole) is not buffered but answered with a close
    (1009); a binary message is never kept.  Events are taken from
    wsproto only while the owner is L{reading<WireOwner.reading>}: what
    is not taken stays in wsproto's buffer, in order, for L{read_more}.
    """

    max_size: int = 4096
    # The text message read so far, and its length in characters.
    _parts: list[str] | None = None
    _length = 0
    _binary = False
    _too_big = False
    _in_read = False
    #: Drop the next messages up to the end of the one being read
    #: (L{discard}).
    _discarding = False

    def dataReceived(self, data: bytes) -> None:
        if self._too_big:
            return
        owner = self._wsp
        owner.wireDataReceived(len(data))
        try:
            self._wsconn.receive_data(data)
        except LocalProtocolError:
            return  # closed: nothing more is read
        self.read_more()

    def read_more(self) -> None:
        """
        Act on the messages wsproto holds, while the owner reads them.
        """
        if self._in_read:
            return
        self._in_read = True
        owner = self._wsp
        try:
            while owner.reading and not self._too_big:
                event = next(self._wsconn.events(), None)
                if event is None:
                    break
                self._event(event)
        finally:
            self._in_read = False

    def discard(self) -> bool:
        """
        Drop every message wsproto holds, and the rest of one that is
        being received (control frames are still answered).

        @return: whether anything was dropped.
        """
        dropped = self._parts is not None or self._binary
        self._parts = None
        self._length = 0
        self._discarding = dropped
        for event in self._wsconn.events():
            if type(event) is TextMessage or type(event) is BytesMessage:
                dropped = True
                self._discarding = not event.message_finished
            else:
                _handleEvent(event, self)
        return dropped

    def _event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextMessage:
            assert isinstance(event, TextMessage)
            self._text(event)
        elif kind is BytesMessage:
            assert isinstance(event, BytesMessage)
            if self._discarding:
                self._discarding = not event.message_finished
                return
            self._binary = not event.message_finished
            if not self._binary:
                self._wsp.binaryMessageReceived()
        else:
            _handleEvent(event, self)

    def _text(self, event: TextMessage) -> None:
        if self._discarding:
            self._discarding = not event.message_finished
            return
        data = event.data
        parts = self._parts
        if parts is None and event.message_finished:
            # The common case: a message in one frame, read at once.
            if len(data) > self.max_size or (
                len(data) * 4 > self.max_size
                and len(data.encode("utf-8")) > self.max_size
            ):
                self._refuse()
                return
            self._wsp.textMessageReceived(data)
            return
        self._length += len(data)
        if self._length > self.max_size:
            self._refuse()
            return
        if parts is None:
            parts = self._parts = []
        parts.append(data)
        if event.message_finished:
            self._parts, self._length = None, 0
            text = "".join(parts)
            if len(text.encode("utf-8")) > self.max_size:
                self._refuse()
                return
            self._wsp.textMessageReceived(text)

    def _refuse(self) -> None:
        """
        The message is over the limit: close with 1009 and read no more.
        """
        self._too_big = True
        self._parts = None
        self._wsp.messageTooBig()

    def close(self, code: int, reason: str = "") -> None:
        """
        Send a close frame with C{code} (if the closing handshake has not
        begun) and close the connection once it is written.
        """
        try:
            data = self._wsconn.send(CloseConnection(code, reason))
        except LocalProtocolError:
            data = b""
        if data:
            self.transport.write(data)
        self.transport.loseConnection()


class Upgrade(Protocol):
    """
    What L{GuardedResource} asks before it upgrades a request.
    """

    def refusal(self, request: Request) -> bytes | None:
        """
        Why C{request} may not become a WebSocket (the response body: its
        code and headers set), or L{None} if it may.
        """

    def buildProtocol(self, request: Request) -> WireOwner: ...

    max_size: int


class GuardedResource(WebSocketResource):
    """
    Twisted's WebSocket resource, upgrading only the requests the door
    accepts, onto a L{GuardedWire}.
    """

    def __init__(self, door: Upgrade) -> None:
        super().__init__(door)  # type: ignore[arg-type]
        self._door = door

    def render_GET(self, request: Request) -> bytes | int:
        refusal = self._door.refusal(request)
        if refusal is not None:
            return refusal
        handshake = H11Handshake(ConnectionType.SERVER)
        raw = request.requestHeaders.getAllRawHeaders()
        headers = [(key, value) for key, values in raw for value in values]
        try:
            handshake.initiate_upgrade_connection(headers, request.path)
        except RemoteProtocolError:
            request.setResponseCode(400)
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return b"a WebSocket handshake was expected here\n"
        owner = self._door.buildProtocol(request)
        accept = handshake.send(AcceptConnection())
        connection = handshake.connection
        channel = request.channel
        transport = channel.transport
        assert transport is not None and connection is not None
        wire = GuardedWire(connection, serverBootstrap, owner)
        wire.max_size = self._door.max_size
        # The channel stays the transport's producer otherwise, and would
        # pass nothing on: the door's output registers itself instead.
        transport.unregisterProducer()  # type: ignore[attr-defined]
        channel._protocolUpgradeForWebsockets(wire)
        # The request is done with: the channel would keep it (its headers,
        # its body buffer) for as long as the WebSocket is open.
        if request in channel.requests:
            channel.requests.remove(request)
        transport.write(accept)
        owner.negotiationFinished()  # type: ignore[attr-defined]
        return NOT_DONE_YET
