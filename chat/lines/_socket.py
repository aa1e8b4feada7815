# -*- test-case-name: tests.lines.test_socket -*-
"""
The only code in txchat that reads Twisted's private transport attributes.

Twisted's socket transports (L{twisted.internet.tcp.Connection}, a
C{FileDescriptor}) keep unsent output in C{dataBuffer} (from C{offset}
on) and C{_tempDataBuffer} (C{_tempDataLen} bytes), say C{_aborting}
once C{abortConnection} was called, have C{TLS} set after C{startTLS},
and hold the socket as C{socket}.  Reading them lets the line door spot
a peer that stopped reading without a producer check on every write,
send a write at once instead of through the reactor, and drop what a
peer that stopped reading will never read.  C{tests.lines.test_socket}
checks them on a real connection, so a Twisted upgrade that moves them
fails there, loudly, not in production.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import ITransport
from twisted.internet.tcp import Connection

#: The attributes read here, for the test that checks they still exist.
PRIVATE_ATTRIBUTES = (
    "dataBuffer",
    "offset",
    "_tempDataLen",
    "_tempDataBuffer",
    "_aborting",
    "socket",
    "TLS",
)


def is_socket(transport: ITransport) -> bool:
    """
    Whether C{transport} is a plain TCP socket transport, whose output
    L{send_now} may write and L{pending_output} may measure.
    """
    return isinstance(transport, Connection)


def pending_output(transport: Any) -> int | None:
    """
    Bytes a socket transport holds unsent, or C{None} for other transports.
    """
    try:
        pending: int = (
            len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        )
    except (AttributeError, TypeError):
        return None
    return pending


def send_now(transport: Any, data: bytes) -> None:
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
        and pending_output(transport) == 0
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def discard_output(transport: Any) -> int:
    """
    Drop what a socket transport holds unsent (not what the kernel has
    taken): how many bytes, or 0 for other transports.
    """
    pending = pending_output(transport)
    if not pending:
        return 0
    transport.dataBuffer = b""
    transport.offset = 0
    transport._tempDataBuffer = []
    transport._tempDataLen = 0
    return pending
