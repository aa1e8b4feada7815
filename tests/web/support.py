"""
The web door without sockets: a L{WebDoor} and its site on a core built
as the server builds it, on a L{Clock}, and browser tabs
(L{MemoryWebClient}) that speak WebSocket (wsproto, as a browser's
client side) over L{StringTransport}s into the site's HTTP channels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from zope.interface import directlyProvides

from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from chat.web.door import WebConnection, WebDoor
from chat.web.files import WebFiles
from chat.web.site import make_site
from tests.support import NoDelayTransport, fake_hasher, many_per_address

#: The page's origin in these tests (the Host the requests come to).
HOST = "chat.example:8080"
ORIGIN = "http://chat.example:8080"


class MemoryWebClient:
    """
    A browser tab: the WebSocket handshake to C{/ws}, then messages, over
    a L{StringTransport} into one HTTP channel of the site.

    @ivar closes: the close frames it was sent.
    @ivar pings: how many pings it was sent (each answered, unless
        C{answer_pings} is false).
    @ivar refused: the HTTP status of a refused handshake, and its body.
    """

    def __init__(
        self,
        site: Site,
        clock: Clock,
        peer: str = "192.0.2.1",
        port: int = 40001,
        *,
        origin: str | None = ORIGIN,
        host: str = HOST,
        secure: bool = False,
    ) -> None:
        self.clock = clock
        address = IPv4Address("TCP", peer, port)
        channel = site.buildProtocol(address)
        assert channel is not None
        self.channel: Protocol = channel
        self.transport = NoDelayTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8080), peerAddress=address
        )
        if secure:
            directlyProvides(self.transport, ISSLTransport)
        channel.makeConnection(self.transport)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.answer_pings = True
        self.closes: list[CloseConnection] = []
        self.pings = 0
        #: The text messages received, as sent.
        self.texts: list[str] = []
        self.accepted = False
        self.refused: tuple[int, bytes] | None = None
        self._pending: list[dict[str, Any]] = []
        headers = [] if origin is None else [(b"origin", origin.encode())]
        self.channel.dataReceived(
            self.ws.send(Request(host=host, target="/ws", extra_headers=headers))
        )
        self._read()

    def send(self, text: str) -> None:
        """
        One text message (one line).
        """
        self.channel.dataReceived(self.ws.send(TextMessage(text)))

    def send_bytes(self, data: bytes) -> None:
        """
        One binary message.
        """
        self.channel.dataReceived(self.ws.send(BytesMessage(data)))

    def send_raw(self, data: bytes) -> None:
        """
        Bytes as they are (frames split anywhere).
        """
        self.channel.dataReceived(data)

    def _read(self) -> None:
        data: bytes = self.transport.value()
        self.transport.clear()
        if not data:
            return
        if self.ws.state.name == "CLOSED":
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, RejectConnection):
                self.refused = (event.status_code, b"")
            elif isinstance(event, RejectData):
                assert self.refused is not None
                self.refused = (self.refused[0], self.refused[1] + event.data)
            elif isinstance(event, TextMessage):
                assert event.message_finished
                self.texts.append(event.data)
                self._pending.append(json.loads(event.data))
            elif isinstance(event, Ping):
                self.pings += 1
                if self.answer_pings:
                    self.channel.dataReceived(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closes.append(event)

    def received(self) -> list[dict[str, Any]]:
        """
        The JSON objects it was sent since the last call, once the turn is
        over.
        """
        self.clock.advance(0)
        self._read()
        pending, self._pending = self._pending, []
        return pending

    def types(self) -> list[str]:
        """
        The types of what it was sent since the last call.
        """
        return [event["type"] for event in self.received()]

    def connection(self, door: WebDoor) -> WebConnection:
        """
        The door's side of this tab.
        """
        [connection] = [
            c for c in door.connections if c._peer == self.transport.getPeer()
        ]
        return connection

    def lose(self, reason: Failure | None = None) -> None:
        """
        The TCP connection ends.
        """
        from twisted.internet.error import ConnectionDone

        self.channel.connectionLost(reason or Failure(ConnectionDone()))


class WebTestCase(SynchronousTestCase):
    """
    The web door on a core as the server builds it, on a L{Clock}.
    Messages are at most 64 bytes; 1,000 bytes may wait for a peer that
    stopped reading.
    """

    limits = Limits()
    origins: tuple[str, ...] = ()
    ping_interval = 30.0

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryStore()
        self.core = ChatCore(
            self.clock,
            self.store,
            MemorySpool(),
            fake_hasher(),
            limits=many_per_address(self.limits),
        )
        self.successResultOf(self.core.start())
        self.files = WebFiles(self.core)
        self.door = WebDoor(
            self.core,
            max_line_length=64,
            send_queue_limit=1000,
            ping_interval=self.ping_interval,
            origins=self.origins,
            files=self.files,
        )
        static = Path(self.mktemp())
        static.mkdir()
        (static / "index.html").write_text("<!doctype html><title>txchat</title>")
        (static / "app.js").write_text("'use strict';")
        self.site = make_site(self.door, self.files, static)
        self.door.start()
        self.addCleanup(self.door.stop)
        self.port = 40000

    def connect(self, name: str | None = None, **kwargs: Any) -> MemoryWebClient:
        """
        A new tab, online as C{name} if given, with what it was sent read.
        """
        self.port += 1
        client = MemoryWebClient(self.site, self.clock, port=self.port, **kwargs)
        if name is not None:
            client.send(name)
        client.received()
        return client
