# -*- test-case-name: tests.lines.test_tls -*-
"""
The TLS layer of C{ssl:} listeners (issue 18): Twisted's memory-BIO TLS
protocol, less the work the line door makes needless.

Twisted's C{listenSSL} wraps each connection in a C{BufferingTLSTransport}:
every C{write} is copied into a buffer of its own and a C{callLater(0)} of
its own flushes it on the next reactor pass, through pyOpenSSL into the
socket transport's queue (two C{epoll_ctl}s and a pass later, a C{send}).
The line door already gathers a turn's output into one write per
connection (L{chat.lines.output}), so here that one write is one
C{SSL_write}, and its records go to the socket at once (L{send_now}).
Reads stop when nothing is left to decrypt instead of asking pyOpenSSL
until it raises, and the send BIO is read only when it holds bytes: two
exceptions a read fewer.

pyOpenSSL keeps a connection's memory BIOs in the private attributes
C{_into_ssl} and C{_from_ssl} (see L{PRIVATE_ATTRIBUTES});
C{tests.lines.test_tls} checks they are there.
"""

from __future__ import annotations

from typing import Any, Final, cast

from OpenSSL._util import ffi, lib
from OpenSSL.SSL import Error, WantReadError, ZeroReturnError

from twisted.internet.defer import Deferred, execute
from twisted.internet.interfaces import (
    IListeningPort,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IReactorTCP,
    IReactorTime,
    IStreamServerEndpoint,
    ITransport,
)
from twisted.internet.protocol import ServerFactory
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.lines._socket import is_socket, send_now

#: The private attributes of C{OpenSSL.SSL.Connection} read here.
PRIVATE_ATTRIBUTES: Final = ("_into_ssl", "_from_ssl")

#: Plaintext asked of OpenSSL per read: two records' worth.
_READ_SIZE: Final = 1 << 15

_NULL: Final = ffi.NULL
_bio_length: Final = lib.BIO_get_mem_data


def _waiting(bio: Any) -> int:
    """
    Bytes a memory BIO holds.
    """
    length: int = _bio_length(bio, _NULL)
    return length


class TLSConnection(TLSMemoryBIOProtocol):
    """
    One TLS connection of a listener: writes are encrypted at once (the door
    writes once a turn), and records go straight to the socket.

    @cvar gathers: tells L{chat.lines.output.Output} to gather even the
        writes it would make at once, for the end of the turn: one record
        per turn, as Twisted's buffering made, without its per-write copy
        and timer.
    """

    gathers: Final = True
    #: Whether the transport is a socket that L{send_now} may write.
    _direct = False

    def makeConnection(self, transport: ITransport) -> None:
        self._direct = is_socket(transport)
        super().makeConnection(transport)

    def _flushSendBIO(self) -> None:
        tls = self._tlsConnection
        size = _waiting(tls._from_ssl)
        if size:
            data: bytes = tls.bio_read(size)
            transport = self.transport
            if self._direct:
                send_now(transport, data)
            elif transport is not None:
                transport.write(data)

    def _flushReceiveBIO(self) -> None:
        # Twisted's loop, but it stops once nothing is left to decrypt,
        # rather than on the WantReadError the next recv would raise.
        tls = self._tlsConnection
        incoming = tls._into_ssl
        while not self._lostTLSConnection:
            try:
                data = tls.recv(_READ_SIZE)
            except WantReadError:
                break
            except ZeroReturnError:
                # The peer's close_notify: no more data on this connection.
                self._shutdownTLS()
                self._tlsShutdownFinished(None)
            except Error:
                self._tlsShutdownFinished(Failure())
            else:
                if not self._aborted:
                    ProtocolWrapper.dataReceived(self, data)
                if not _waiting(incoming) and not tls.pending():
                    break
        self._flushSendBIO()


class TLSFactory(TLSMemoryBIOFactory):
    """
    Wraps the connections of C{wrapped} in L{TLSConnection}s.

    @ivar options: the TLS options its connections are made with.
    """

    protocol = TLSConnection

    def __init__(
        self,
        options: IOpenSSLServerConnectionCreator,
        wrapped: IProtocolFactory,
        clock: IReactorTime,
    ) -> None:
        super().__init__(options, False, wrapped, clock)
        self.options = options


@implementer(IStreamServerEndpoint)
class TLSServerEndpoint:
    """
    A TCP listener whose connections speak TLS through L{TLSFactory}: what
    an C{ssl:} description makes, on the cheaper TLS layer.

    @ivar options: the TLS options (certificate, key, versions, ciphers).
    @ivar backlog: the listen backlog.
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        port: int,
        options: IOpenSSLServerConnectionCreator,
        backlog: int = 50,
        interface: str = "",
    ) -> None:
        self.reactor = reactor
        self.port = port
        self.options = options
        self.backlog = backlog
        self.interface = interface

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        clock = cast(IReactorTime, self.reactor)
        wrapped = cast(ServerFactory, TLSFactory(self.options, factory, clock))
        return execute(
            self.reactor.listenTCP,
            self.port,
            wrapped,
            backlog=self.backlog,
            interface=self.interface,
        )
